"""The alert variables: read when asked, a clear error for an unknown kind, the URL never shown."""

from __future__ import annotations

import pytest

from pgy_pipeline.alerts import AlertConfigError, WebhookKind, alert_settings

from .conftest import HOOK_SECRET

URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_SECRET}"


def test_defaults_to_json_and_disabled_without_url() -> None:
    settings = alert_settings({})
    assert settings.kind is WebhookKind.JSON
    assert not settings.enabled


def test_reads_the_environment_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGY_ALERT_WEBHOOK_URL", raising=False)
    assert not alert_settings().enabled
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_URL", URL)
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_KIND", "Feishu")
    monkeypatch.setenv("PGY_DAGSTER_URL", "http://dagster.internal:3000/")
    settings = alert_settings()
    assert settings.enabled and settings.kind is WebhookKind.FEISHU
    assert settings.run_link("abc") == "http://dagster.internal:3000/runs/abc"


@pytest.mark.parametrize("kind", ["teams", "lark-card", "Feishu2"])
def test_unknown_kind_names_the_variable_and_the_allowed_values(kind: str) -> None:
    with pytest.raises(AlertConfigError) as err:
        alert_settings({"PGY_ALERT_WEBHOOK_URL": URL, "PGY_ALERT_WEBHOOK_KIND": kind})
    text = str(err.value)
    assert "PGY_ALERT_WEBHOOK_KIND" in text
    assert "feishu|dingtalk|wecom|slack|json" in text
    assert HOOK_SECRET not in text


def test_a_url_without_scheme_is_refused_without_echoing_it() -> None:
    with pytest.raises(AlertConfigError) as err:
        alert_settings({"PGY_ALERT_WEBHOOK_URL": f"open.feishu.cn/hook/{HOOK_SECRET}"})
    assert "PGY_ALERT_WEBHOOK_URL" in str(err.value)
    assert HOOK_SECRET not in str(err.value)


def test_the_url_stays_out_of_repr_and_descriptions() -> None:
    settings = alert_settings({"PGY_ALERT_WEBHOOK_URL": URL, "PGY_ALERT_WEBHOOK_KIND": "feishu"})
    assert HOOK_SECRET not in repr(settings)
    assert settings.describe_url() == "https://open.feishu.cn/***"
    assert HOOK_SECRET not in settings.scrub(
        f"Max retries exceeded with url: /open-apis/bot/v2/hook/{HOOK_SECRET}"
    )
