"""What the signing tests share: a project's settings, and its artifacts' accessories."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.factories import admin_client, artifact_url, caller
from tests.support import RunningBerth

ENFORCE = {"enable_content_trust_cosign": "true"}
SIGN = {"sign_on_push": "true"}


def set_metadata(server: RunningBerth, project: str, metadata: dict[str, str]) -> None:
    with admin_client(server) as admin:
        changed = admin.put(f"/projects/{project}", json={"metadata": metadata})
    assert changed.status_code == 200, changed.text


def accessories(server: RunningBerth, repo: str, reference: str) -> httpx.Response:
    with caller(server, "admin") as admin:
        return admin.get(f"{artifact_url(repo, reference)}/accessories")


def signed_accessories(
    server: RunningBerth, repo: str, reference: str, within: float = 30
) -> list[dict[str, Any]]:
    """The accessories once one holds a verdict (Berth signs after the push's answer)."""
    deadline = time.monotonic() + within
    while True:
        got = accessories(server, repo, reference)
        assert got.status_code == 200, got.text
        items = [a for a in got.json() if a["verification"]]
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.1)
