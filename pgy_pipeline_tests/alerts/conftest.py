"""A webhook receiver on loopback that records what it is sent, and answers as told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline.alerts import AlertSettings, WebhookKind
from pgy_pipeline_tests.loopback import refused_base_url, serving

# The secret part of the webhook URL, as a bot's URL carries it (path and query).
HOOK_SECRET = "hook-SECRET-7f3a9c2e"


@dataclass
class Receiver:
    """Each POST body (parsed JSON) lands in ``posts``; ``status`` and ``body`` are the answer."""

    server: ThreadingHTTPServer
    posts: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"errcode": 0, "code": 0, "errmsg": "ok"}'

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/bot/v2/hook/{HOOK_SECRET}?key={HOOK_SECRET}"

    def settings(self, kind: WebhookKind = WebhookKind.JSON, dagster_url: str | None = None) -> AlertSettings:
        return AlertSettings(url=self.url, kind=kind, dagster_url=dagster_url)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            receiver.posts.append(json.loads(self.rfile.read(length)))
            receiver.paths.append(self.path)
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(BaseHTTPRequestHandler) as server:
        rec = Receiver(server)
        server.RequestHandlerClass = _handler(rec)
        yield rec


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    return f"{refused_base_url()}/bot/v2/hook/{HOOK_SECRET}?key={HOOK_SECRET}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
