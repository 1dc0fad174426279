"""What the simulated market knows beside the endpoint: each KOL's quoted prices.

The endpoint gives no prices (analysts keep them in data/kol_prices.csv). So that `make run`
shows every figure of the report, the demo writes prices drawn here for the sample roster when
the data comes from the simulator. A price follows the KOL's reach (its ``KolStyle.scale``), so
costs per 1,000 reads land in a plausible band; about one KOL in five has no price, and some
prices are older than the staleness setting.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, timedelta

from .data import stable_int
from .notegen import KolStyle, draw_count

PRICES_HEADER = "user_id,price_type,price,currency,valid_from,valid_to,note"


def style_of(seed: int, user_id: str) -> KolStyle:
    """The KOL's style, drawn as its timeline draws it (same seed, same stream)."""
    rng = random.Random(stable_int(seed, user_id))
    draw_count(rng)
    return KolStyle.draw(rng)


def quoted_prices(seed: int, user_ids: Iterable[str], today: date) -> str:
    """A prices CSV (the format of `pgy prices import`) for these KOLs."""
    lines = [PRICES_HEADER]
    for user_id in user_ids:
        rng = random.Random(stable_int(seed, user_id, "prices"))
        if rng.random() < 0.2:
            continue  # not quoted yet: the report shows no cost, never a cost of 0
        typical_reads = 5000 * style_of(seed, user_id).scale
        photo = round(typical_reads * rng.uniform(0.1, 0.4), -1) or 10
        video = round(photo * rng.uniform(1.2, 1.8), -1)
        since = (today - timedelta(days=rng.randrange(5, 300))).isoformat()
        lines += [
            f"{user_id},photo_note,{photo:.2f},CNY,{since},,simulated quote",
            f"{user_id},video_note,{video:.2f},CNY,{since},,simulated quote",
        ]
    return "\n".join(lines) + "\n"
