"""NotesQuery and ClientConfig: validated before any request is made."""

from __future__ import annotations

import logging
import pickle

import pytest

from pgy_pipeline.justoneapi import (
    ENDPOINT_PATH,
    PROD_CN_BASE_URL,
    PROD_GLOBAL_BASE_URL,
    AdvertiseSwitch,
    ClientConfig,
    IsThirdPlatform,
    NotesDetailClient,
    NotesQuery,
    NoteType,
    OrderType,
)

from .helpers import TOKEN


def test_constants_match_the_vendor_page() -> None:
    assert PROD_GLOBAL_BASE_URL == "https://api.justoneapi.com"
    assert PROD_CN_BASE_URL == "http://47.117.133.51:30015"
    assert ENDPOINT_PATH == "/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"


def test_defaults_are_the_vendor_defaults() -> None:
    query = NotesQuery("5a1b2c")
    assert query.to_params(1) == {
        "userId": "5a1b2c",
        "advertiseSwitch": "ALL",
        "orderType": "LATEST",
        "noteType": "ALL",
        "isThirdPlatform": "NO",
        "pageNumber": 1,
    }
    assert query.is_unfiltered


def test_enums_accept_their_string_values() -> None:
    query = NotesQuery("u_1-x", "ORGANIC_ONLY", "MOST_READ", "VIDEO", "YES")
    assert query.advertise_switch is AdvertiseSwitch.ORGANIC_ONLY
    assert query.order_type is OrderType.MOST_READ
    assert query.note_type is NoteType.VIDEO
    assert query.is_third_platform is IsThirdPlatform.YES
    assert query == NotesQuery(
        "u_1-x", AdvertiseSwitch.ORGANIC_ONLY, OrderType.MOST_READ, NoteType.VIDEO, IsThirdPlatform.YES
    )
    assert not query.is_unfiltered


def test_order_does_not_filter() -> None:
    assert NotesQuery("u", order_type="MOST_INTERACT").is_unfiltered
    assert not NotesQuery("u", note_type="COOPERATION").is_unfiltered


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"user_id": "a b"}, "user_id"),
        ({"user_id": "a&token=x"}, "user_id"),
        ({"user_id": "abc\n"}, "user_id"),
        ({"user_id": "x" * 65}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"user_id": "u", "advertise_switch": "all"}, "advertise_switch"),
        ({"user_id": "u", "order_type": "OLDEST"}, "order_type"),
        ({"user_id": "u", "note_type": None}, "note_type"),
        ({"user_id": "u", "is_third_platform": True}, "is_third_platform"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        NotesQuery(**kwargs)


@pytest.mark.parametrize("page", [0, -1, True, 1.0, "2"])
def test_page_number_must_be_a_positive_int(page: object) -> None:
    with pytest.raises(ValueError, match="page_number"):
        NotesQuery("u").to_params(page)  # type: ignore[arg-type]


def test_to_params_returns_a_new_dict_without_token() -> None:
    query = NotesQuery("u")
    first = query.to_params(2)
    first["userId"] = "changed"
    second = query.to_params(2)
    assert second["userId"] == "u" and second["pageNumber"] == 2
    assert "token" not in second


def test_fingerprint_is_stable_short_and_about_filters_only() -> None:
    base = NotesQuery("a")
    assert base.fingerprint() == NotesQuery("b").fingerprint()
    assert base.fingerprint() == NotesQuery("a").fingerprint()
    assert len(base.fingerprint()) <= 16
    variants = {
        NotesQuery("a", advertise_switch="ORGANIC_ONLY").fingerprint(),
        NotesQuery("a", order_type="MOST_READ").fingerprint(),
        NotesQuery("a", note_type="VIDEO").fingerprint(),
        NotesQuery("a", is_third_platform="YES").fingerprint(),
        base.fingerprint(),
    }
    assert len(variants) == 5


def test_query_is_frozen_and_picklable() -> None:
    query = NotesQuery("u", note_type="VIDEO")
    with pytest.raises(AttributeError):
        query.user_id = "v"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(query)) == query


def test_config_defaults_and_secret_repr() -> None:
    config = ClientConfig(token=TOKEN)
    assert config.base_url == PROD_GLOBAL_BASE_URL
    assert (config.connect_timeout_s, config.read_timeout_s) == (10.0, 60.0)
    assert (config.max_attempts, config.backoff_base_s, config.backoff_max_s) == (4, 0.5, 30.0)
    assert (config.slow_down_max_wait_s, config.rate_limit_per_s, config.rate_limit_min_per_s) == (
        600.0,
        20.0,
        1.0,
    )
    assert (config.max_pages, config.page_workers) == (250, 4)
    assert TOKEN not in repr(config) and TOKEN not in str(config)


@pytest.mark.parametrize(
    "overrides",
    [
        {"token": ""},
        {"token": "abc def"},
        {"token": TOKEN + "\n"},
        {"base_url": "ftp://example.com"},
        {"base_url": "api.justoneapi.com"},
        {"base_url": "https://example.com/?token=x"},
        {"read_timeout_s": 0},
        {"connect_timeout_s": -1.0},
        {"max_attempts": 0},
        {"backoff_base_s": -0.1},
        {"rate_limit_per_s": 0},
        {"rate_limit_min_per_s": 50.0},
        {"max_pages": 0},
        {"page_workers": 0},
        {"slow_down_max_wait_s": -1},
        {"slow_down_max_wait_s": "600"},
        {"max_attempts": True},
    ],
)
def test_config_rejects_bad_values(overrides: dict) -> None:
    values = {"token": TOKEN, **overrides}
    with pytest.raises(ValueError) as info:
        ClientConfig(**values)
    assert TOKEN not in str(info.value)


def test_config_strips_trailing_slash() -> None:
    assert ClientConfig(token=TOKEN, base_url="http://127.0.0.1:8080/").base_url == "http://127.0.0.1:8080"


def test_plain_http_warns_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pgy_pipeline.justoneapi")
    with NotesDetailClient(ClientConfig(token=TOKEN, base_url=PROD_CN_BASE_URL)):
        pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "plain HTTP" in r.getMessage()]
    assert len(warnings) == 1
    assert "uses plain HTTP: the token travels unencrypted" in warnings[0].getMessage()
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("base_url", [PROD_GLOBAL_BASE_URL, "http://127.0.0.1:9", "http://localhost:9"])
def test_no_warning_for_https_or_loopback(base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pgy_pipeline.justoneapi")
    with NotesDetailClient(ClientConfig(token=TOKEN, base_url=base_url)):
        pass
    assert not [r for r in caplog.records if "plain HTTP" in r.getMessage()]
