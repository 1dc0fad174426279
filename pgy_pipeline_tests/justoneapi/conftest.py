"""Fixtures for the client tests: the simulator, a scripted loopback server, clients with fast configs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from pgy_pipeline.justoneapi import NotesDetailClient
from pgy_pipeline_tests.loopback import base_url, refused_base_url, serving

from .helpers import Paged, Scripted, fast_config


@pytest.fixture
def client_factory() -> Iterator[Callable[..., NotesDetailClient]]:
    made: list[NotesDetailClient] = []

    def make(
        base_url: str, observer: Any = None, before_call: Any = None, **overrides: Any
    ) -> NotesDetailClient:
        client = NotesDetailClient(
            fast_config(base_url, **overrides), observer=observer, before_call=before_call
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with script.lock:
                script.paths.append(self.path)
                reply = script.replies.pop(0) if script.replies else (404, {}, b"{}")
            status, headers, body = reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # the request line holds the token
            pass

    with serving(Handler) as server:
        script.base_url = base_url(server)
        yield script


@pytest.fixture
def paged_factory() -> Iterator[Callable[[Callable[[int, int], Any]], Paged]]:
    """Start Paged servers (answers computed per page number); all are shut down at the end."""
    servers = contextlib.ExitStack()

    def make(answer: Callable[[int, int], Any]) -> Paged:
        paged = Paged(answer)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = paged.reply(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the request line holds the token
                pass

        paged.base_url = base_url(servers.enter_context(serving(Handler)))
        return paged

    with servers:
        yield make


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    return refused_base_url()
