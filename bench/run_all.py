"""`make bench`: every benchmark, each in its own process, figures beside targets.

Also appended to bench/RESULTS.md. `make bench` runs the quick set (N=200 refresh,
`pgy refresh` of 100 KOLs as a user runs it, 1M-note normalisation, 300-KOL soak);
`make bench-full` adds the N=1,000 refreshes (~9 minutes each: bound by the API's 20 requests/s),
the same at 100 requests/s, the engagement run over a year of daily snapshots of 1,000 KOLs, and
the pipeline's own cost with no rate limit (issue 20): the profile of a 1,000-KOL refresh, the
side-by-side with dlt and a plain loop (builds bench/out/dlt-venv from uv.lock's `bench` group on
first use) and the time after the last call at 10,000 KOLs of one page.
"""

from __future__ import annotations

import subprocess
import sys

QUICK = [
    ["bench.normalise_bench"],
    ["bench.refresh_bench", "200", "--baseline-kols", "10"],
    ["bench.cli_refresh_bench", "100"],
    ["bench.soak", "300"],
]
FULL = [
    ["bench.refresh_bench", "1000", "--baseline-kols", "10"],
    ["bench.cli_refresh_bench", "1000"],
    ["bench.figures_bench", "1000"],  # the engagement run over a year of daily snapshots (~5 min to generate)
    ["bench.cli_refresh_bench", "1000", "--rate", "100"],
    ["bench.profile_refresh", "1000"],
    ["bench.side_by_side", "1000"],
    ["bench.tail_bench", "10000"],
]


def main() -> int:
    runs = QUICK + (FULL if "--full" in sys.argv else [])
    failed = 0
    for module, *args in runs:
        print(f"\n$ python -m {module} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", module, *args]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
