"""The code location `test_e2e_daemon.py` serves: the pipeline's own definitions, with knobs a test can wait for.

The retry sensor is evaluated at each pass of the daemon (every few seconds, not every minute) and
a failed KOL is due for its retry 2 s after it failed (not 5 minutes); a 301 gives up on a page
after 2 quick attempts. Everything else, the rate included (PGY_RATE_LIMIT_PER_S), is as shipped.
"""

import dagster as dg

from pgy_pipeline.defs.definitions import build_defs
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(
        api=JustOneApiResource(max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.05),
        pgy=PgyResource(retry_cooldown_s=2.0, fresh_for_h=0.0, publish_interval_s=0.0),
        retry_interval_s=1,
    )
