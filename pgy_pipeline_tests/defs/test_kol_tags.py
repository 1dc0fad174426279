"""The codec of the run tags that list failed KOLs: what is encoded decodes the same, never cut."""

from __future__ import annotations

from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.kol_tags import MAX_TAG_CHARS, FailedKol
from pgy_pipeline.defs.tags import FAILED_BY_REASON_TAG, FAILED_KOLS_TAG, RETRYABLE_KOLS_TAG
from pgy_pipeline.refresh import KolOutcome, KolStatus
from pgy_pipeline.refresh.outcomes import ErrorKind

EVERY_KIND = [
    FailedKol("5f0000000000000000000001", 301, "retry"),
    FailedKol("kol_b", None, "slow_down"),
    FailedKol("kol-c", 600, "rejected"),
    FailedKol("kol_d", None, "internal"),
    FailedKol("kol_e", 303, "stop-quota"),
    FailedKol("kol_f", None, "stop-budget"),
    FailedKol("kol_g", 601, "stop-balance"),
    FailedKol("kol_h", 100, "stop-token"),
]


def test_a_short_list_round_trips_whole() -> None:
    tags = kol_tags.encode(EVERY_KIND)
    assert tags[FAILED_KOLS_TAG].startswith("5f0000000000000000000001:301:retry,kol_b::slow_down,")
    kols = kol_tags.decode(tags)
    assert kols.failed == tuple(EVERY_KIND) and kols.failed_more == 0
    assert kols.retryable == ("5f0000000000000000000001", "kol_b") and kols.retryable_more == 0
    assert kols.stop_counts == {"quota": 1, "budget": 1, "balance": 1, "token": 1}
    assert (kols.retryable_count, kols.rejected_count, kols.failed_count) == (2, 2, 8)
    assert [f.stop for f in kols.failed][4:] == ["quota", "budget", "balance", "token"]


def test_a_long_list_keeps_whole_entries_and_counts_the_rest() -> None:
    failed = [
        FailedKol(f"5f{i:022x}", 301 if i % 3 else 600, "retry" if i % 3 else "rejected") for i in range(500)
    ]
    tags = kol_tags.encode(failed)
    assert all(len(v) <= MAX_TAG_CHARS for v in tags.values())
    kols = kol_tags.decode(tags)
    # A prefix of the list, each entry whole, then "+N more": nothing named wrong, nothing lost.
    assert kols.failed == tuple(failed[: len(kols.failed)]) and 100 < len(kols.failed) < 500
    assert kols.failed_count == 500 and tags[FAILED_KOLS_TAG].endswith(f",+{kols.failed_more} more")
    retryable = [f.user_id for f in failed if f.retryable]
    assert kols.retryable == tuple(retryable[: len(kols.retryable)])
    assert len(kols.retryable) + kols.retryable_more == len(retryable)
    # The counts cover every KOL, named or not.
    assert (kols.retryable_count, kols.rejected_count) == (333, 167)
    assert tags[FAILED_BY_REASON_TAG] == "rejected:167,retry:333"
    whole = kol_tags.encode_failed(failed, limit=None)
    assert kol_tags.decode({FAILED_KOLS_TAG: whole}).failed == tuple(failed)


def test_an_entry_that_would_cross_the_limit_is_left_out_whole() -> None:
    failed = [FailedKol("a" * 30, 301, "retry"), FailedKol("b" * 30, 301, "retry")]
    text = kol_tags.encode(failed, limit=60)[RETRYABLE_KOLS_TAG]
    assert text == f"{'a' * 30},+1 more"


def test_a_failed_outcome_carries_its_stop() -> None:
    quota = KolOutcome("k1", KolStatus.STOPPED, error_kind=ErrorKind.STOP, error_code=None, stop_kind="quota")
    retry = KolOutcome("k2", KolStatus.FAILED, error_kind=ErrorKind.RETRY, error_code=301)
    assert kol_tags.encode_failed([FailedKol.of(quota), FailedKol.of(retry)]) == "k1::stop-quota,k2:301:retry"


def test_tags_without_the_counts_decode_from_their_entries() -> None:
    kols = kol_tags.decode({FAILED_KOLS_TAG: "u1:301:retry,u2:600:rejected", RETRYABLE_KOLS_TAG: "u1"})
    assert (kols.retryable_count, kols.rejected_count, kols.by_reason) == (1, 1, None)
    assert kol_tags.decode({}).failed_count == 0
