"""Garbage collection runs through Harbor's /api/v2.0/system/gc, for the tests of GC and of
what it gives back (quotas)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import id_from_location
from tests.support import wait_until

GC = "/system/gc"
SCHEDULE = "/system/gc/schedule"
FINAL = ("Success", "Error", "Stopped")


def manual(**parameters: Any) -> dict[str, Any]:
    return {"schedule": {"type": "Manual"}, "parameters": parameters}


def finished(client: httpx.Client, run_id: int, within: float = 60) -> dict[str, Any]:
    """The run's history row once it reached a final status."""

    def final() -> dict[str, Any] | None:
        row: dict[str, Any] = client.get(f"{GC}/{run_id}").json()
        return row if row["job_status"] in FINAL else None

    return wait_until(f"garbage collection {run_id} ends", final, within)


def run_now(client: httpx.Client, **parameters: Any) -> int:
    """Start a run and wait for its end; its id."""
    answer = client.post(SCHEDULE, json=manual(**parameters))
    assert answer.status_code == 201, answer.text
    run_id = id_from_location(answer.headers["Location"])
    finished(client, run_id)
    return run_id
