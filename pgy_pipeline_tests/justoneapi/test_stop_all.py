"""Stop-all across threads: one 303 halts a whole pool of KOL fetches within the calls in flight."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pgy_pipeline.justoneapi import (
    BudgetExhausted,
    FetchIncomplete,
    FetchResult,
    NotesDetailClient,
    NotesQuery,
    QuotaExceeded,
    SchemaDrift,
    SchemaDriftStop,
)
from pgy_pipeline.justoneapi.drift import DRIFT_STOP_KOLS
from pgy_pipeline_tests.support import MakeSim

ClientFactory = Callable[..., NotesDetailClient]
WORKERS = 8


def _run(client: NotesDetailClient, users: list[str]) -> list[FetchResult | FetchIncomplete]:
    def one(user: str) -> FetchResult | FetchIncomplete:
        try:
            return client.fetch_all(NotesQuery(user))
        except FetchIncomplete as exc:
            return exc

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, users))


def test_quota_stops_a_pool_of_fetches(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    users = [f"kol_{i:02d}" for i in range(50)]
    sim = make_sim(fixed_counts=dict.fromkeys(users, 5), daily_quota=20, latency_s=0.01)
    client = client_factory(sim.base_url)
    outcomes = _run(client, users)

    done = [o for o in outcomes if isinstance(o, FetchResult)]
    stopped = [o for o in outcomes if isinstance(o, FetchIncomplete)]
    assert len(done) == 20 and len(stopped) == 30
    assert all(o.stop_all and isinstance(o.cause, QuotaExceeded) for o in stopped)
    counters = sim.counters()
    # Calls after the first 303 are only those already in flight when it arrived.
    assert 1 <= counters.by_code[303] <= WORKERS
    assert counters.calls_total <= 20 + WORKERS
    assert isinstance(client.stopped, QuotaExceeded)


def test_budget_governor_stops_a_pool(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    users = [f"kol_{i:02d}" for i in range(30)]
    sim = make_sim(fixed_counts=dict.fromkeys(users, 3))
    import threading

    lock = threading.Lock()
    spent = [0]

    def governor() -> None:
        with lock:
            if spent[0] >= 10:
                raise BudgetExhausted(f"spent {spent[0]} of 10 calls")
            spent[0] += 1

    client = client_factory(sim.base_url, before_call=governor)
    outcomes = _run(client, users)
    assert sum(isinstance(o, FetchResult) for o in outcomes) == 10
    assert sim.counters().calls_total == 10
    assert isinstance(client.stopped, BudgetExhausted)


def test_schema_drift_stops_a_pool_after_a_few_kols(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    users = [f"kol_{i:02d}" for i in range(40)]
    sim = make_sim(fixed_counts=dict.fromkeys(users, 20), rename_fields={"likeNum": "likeCount"})
    client = client_factory(sim.base_url)
    outcomes = _run(client, users)
    assert all(isinstance(o, FetchIncomplete) for o in outcomes)
    drifted = [o for o in outcomes if isinstance(o, FetchIncomplete) and isinstance(o.cause, SchemaDrift)]
    # Each drifted KOL bought its page 1 only; after DRIFT_STOP_KOLS of them, the calls in flight.
    assert DRIFT_STOP_KOLS <= len(drifted) <= DRIFT_STOP_KOLS + WORKERS
    assert sim.counters().calls_total == len(drifted)
    assert isinstance(client.stopped, SchemaDriftStop) and client.stopped.drift is not None
    assert client.stopped.drift.key == "likeNum:missing"
