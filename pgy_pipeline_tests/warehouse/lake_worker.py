"""A child process's part in the concurrent lake writers test (a module of its own, cheap to import)."""

from __future__ import annotations

import multiprocessing

from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse


def write(
    cfg: LakeConfig,
    worker: int,
    n: int,
    start: multiprocessing.synchronize.Event,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    """As a run on another host: MERGE a row and UPDATE a shared one, n times, in its own transactions."""
    wh = LakeWarehouse(cfg)
    wh.ensure()
    start.wait(60)
    errors = []
    for i in range(n):
        try:
            with wh.write() as conn:
                conn.execute(
                    "MERGE INTO kols USING (SELECT ? AS user_id, ? AS label) AS r ON kols.user_id = r.user_id "
                    "WHEN MATCHED THEN UPDATE SET label = r.label "
                    "WHEN NOT MATCHED THEN INSERT (user_id, label, added_at) VALUES (r.user_id, r.label, now())",
                    [f"w{worker}_{i}", f"worker {worker}"],
                )
                conn.execute("UPDATE kols SET label = label || '+' WHERE user_id = 'shared'")
        except Exception as exc:
            errors.append(repr(exc)[:300])
    wh.close()
    queue.put(errors)
