"""A loopback webhook receiver and a policy pointing at it: shared by the delivery tests
(tests/pipelines/test_webhooks.py) and the delivery history API tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.factories import admin_client
from tests.support import RunningBerth

FAST_RETRIES = {"BERTH_JOB_BACKOFF_SECONDS": "0.05"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str = "/hook"

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A loopback HTTP server that records every POST and answers the scripted statuses."""

    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, within: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.05)
        assert len(self.received) >= count, f"got {len(self.received)} of {count} deliveries"
        return self.received


@contextmanager
def serving_receiver() -> Iterator[Receiver]:
    """A receiver listening on loopback until the block ends."""
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(dict(self.headers.items()), body, self.path))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def add_policy(server: RunningBerth, project: str, receiver: Receiver, **extra: Any) -> int:
    target = {"type": "http", "address": receiver.url, "payload_format": "Default"}
    target.update(extra.pop("target", {}))
    body = {
        "name": "ci",
        "event_types": ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"],
        "targets": [target],
        "secret": "s3cret",
        **extra,
    }
    with admin_client(server) as admin:
        created = admin.post(f"/projects/{project}/webhook/policies", json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])
