"""The fake Notes Details (V1) endpoint served over real HTTP on loopback.

``ThreadingHTTPServer`` with HTTP/1.1 keep-alive (every reply carries a
Content-Length), so a ``requests.Session`` reuses its connections and one
simulator sustains a few hundred calls per second even with latency injected.
The token travels in the query string, so request lines are never logged: only
the method, the path and the status, at DEBUG.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .endpoint import Counters, Endpoint
from .profiles import Profile, starting_profile
from .replies import Reply
from .timeline import today_cst

logger = logging.getLogger(__name__)

# GET it for the simulator's counters as JSON (not part of the vendor's API).
COUNTERS_PATH = "/__simulator/counters"
# GET it for {"as_of": "YYYY-MM-DD"}; POST it with ?as_of=YYYY-MM-DD to move the clock of a
# simulator in another process (benchmarks of several simulated days).
CLOCK_PATH = "/__simulator/clock"
# POST it with ?after=N to hold every call after the Nth (Profile.hold_after_calls), without to release.
HOLD_PATH = "/__simulator/hold"


class Simulator:
    """The endpoint on ``host:port`` (0 = ephemeral) with ``profile`` and ``seed``, serving ``as_of``.

    ``as_of`` (a date or ISO string; ``anchor_date`` is an alias) is the day the simulated
    world is in; None means today in Asia/Shanghai on every call. ``overrides`` replace
    fields of the profile, e.g. ``Simulator("clean", p_301=1.0)``; ``update(as_of=...)``
    moves the clock of a running simulator.
    """

    def __init__(
        self,
        profile: str | Profile = "clean",
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        as_of: date | str | None = None,
        **overrides: Any,
    ) -> None:
        if as_of is not None:
            overrides["as_of"] = as_of
        profile = starting_profile(profile, overrides)
        self.seed = seed
        self.host = host
        self.port = port
        self._stopping = threading.Event()
        self._endpoint = Endpoint(profile, seed, self._stopping)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        logger.info("simulator (profile %s) listening on %s", self.profile.name, self.base_url)
        return self._server

    def start(self) -> str:
        """Serve in a background daemon thread; returns the base URL."""
        server = self._bind()
        # A short poll interval keeps stop() at ~50 ms instead of the default 0.5 s.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="pgy-simulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C) or ``stop()`` from another thread."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.05)
        except KeyboardInterrupt:
            logger.info("simulator interrupted")
        finally:
            self._close()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        # Under serve_forever() the serving thread closes everything itself on the way out.
        if thread is not None:
            thread.join(timeout=5)
            self._close()

    def _close(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.server_close()
        # Keep-alive connections outlive the listening socket; cut them so no client
        # keeps talking to a simulator that was stopped.
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults, counters and ground truth (see Endpoint) --------------------------------
    @property
    def profile(self) -> Profile:
        """The effective profile (after overrides and updates)."""
        return self._endpoint.profile

    def update(self, **overrides: Any) -> Profile:
        """Change faults or the clock (``as_of``) at runtime; calls in flight keep their profile."""
        return self._endpoint.update(overrides)

    @property
    def as_of(self) -> date:
        """The day served now (today in Asia/Shanghai unless pinned)."""
        return self.profile.as_of or today_cst()

    def counters(self) -> Counters:
        return self._endpoint.counters()

    def reset_counters(self) -> None:
        self._endpoint.reset_counters()

    def reset_usage(self) -> None:
        """Forget spent daily quota, balance and rate-limit buckets, as on a new day."""
        self._endpoint.reset_usage()

    def expected_notes(
        self,
        user_id: str,
        advertise_switch: str = "ALL",
        order_type: str = "LATEST",
        note_type: str = "ALL",
        is_third_platform: str = "NO",
        as_of: date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Ground truth on ``as_of`` (default: the day served) in the vendor's JSON shape and
        paging order, without extra_fields. Needs no HTTP: the simulator need not be started."""
        day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        return self._endpoint.expected_notes(
            user_id, day, advertise_switch, order_type, note_type, is_third_platform
        )

    def note_count(self, user_id: str, as_of: date | str | None = None, **filters: str) -> int:
        """Number of notes for ``user_id`` on ``as_of`` under ``expected_notes`` keyword filters."""
        return len(self.expected_notes(user_id, as_of=as_of, **filters))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every keep-alive call.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return "pgy-simulator"

    def setup(self) -> None:
        super().setup()
        sim = self.server.sim
        with sim._conn_lock:
            sim._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            sim = self.server.sim
            with sim._conn_lock:
                sim._connections.discard(self.connection)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == COUNTERS_PATH:
            self._send_counters()
            return
        if path == CLOCK_PATH:
            self._send_json(200, {"as_of": self.server.sim.as_of.isoformat()})
            return
        try:
            reply = self.server.sim._endpoint.respond(self.path)
        except Exception:
            logger.exception("simulator failed to answer a request")
            reply = Reply(status=500, body=b'{"status":500,"error":"Internal Server Error"}')
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", f"{reply.content_type};charset=UTF-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def do_POST(self) -> None:
        # Any request body is left unread, so this connection cannot be reused.
        self.close_connection = True
        url = urlsplit(self.path)
        if url.path == HOLD_PATH:
            after = parse_qs(url.query).get("after", [""])[0]
            if after and not after.isdigit():
                self._send_json(400, {"error": "after must be a number of calls"})
                return
            self.server.sim.update(hold_after_calls=int(after) if after else None)
            self._send_json(200, {"hold_after_calls": int(after) if after else None})
            return
        if url.path != CLOCK_PATH:
            self.send_error(404)
            return
        try:
            day = date.fromisoformat(parse_qs(url.query).get("as_of", [""])[0])
        except ValueError:
            self._send_json(400, {"error": "as_of must be YYYY-MM-DD"})
            return
        self.server.sim.update(as_of=day)
        self._send_json(200, {"as_of": day.isoformat()})

    def _send_counters(self) -> None:
        # For benchmarks and `pgy simulator` users: what was spent, from another process.
        c = self.server.sim.counters()
        self._send_json(
            200,
            {
                "calls_total": c.calls_total,
                "by_code": {str(k): v for k, v in c.by_code.items()},
                "by_http_status": {str(k): v for k, v in c.by_http_status.items()},
                "by_user_page": [[u, p, n] for (u, p), n in c.by_user_page.items()],
                "faults": dict(c.faults),
                "held": c.held,
            },
        )

    def _send_json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stock message quotes the raw request line, token included, back into the body.
        super().send_error(code)

    # The request line carries the token: log the path only, never the query or raw line.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(getattr(self, "path", "") or "").path
        logger.debug("simulator %s %s -> %s", self.command or "-", path, code)

    def log_error(self, format: str, *args: Any) -> None:
        logger.debug("simulator rejected a malformed request")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup that can stall startup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-stall are expected; nothing to report.
        logger.debug("simulator connection ended abruptly", exc_info=True)
