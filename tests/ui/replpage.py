"""What the replication page's browser tests share: signing in to the page, the tables'
rows, registries and rules made through the API, and a live execution written into the
database (a real one ends before a click lands, as the GC page's tests set a run Running)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Locator, Page, expect

from tests.factories import admin_client, id_from_location
from tests.support import ADMIN, RunningBerth, run_sql

REGISTRIES = "#registries tbody tr"
RULES = "#rules tbody tr"
EXECUTIONS = "#executions tbody tr"
TASKS = "#tasks tbody tr"
MARKUP = '<img src=x id="pwned" onerror="document.title=1">'


def named(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def open_page(page: Page, query: str = "", name: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    """Sign in through the form, coming back to the replication page (with query)."""
    page.goto(f"/ui/login?{urlencode({'next': f'/ui/replication{query}'})}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/ui/replication{re.escape(query)}$"))


def ready(page: Page) -> None:
    expect(page.locator("#replication")).to_have_attribute("data-state", "ready")


def api_registry(server: RunningBerth, name: str, url: str, **fields: Any) -> int:
    with admin_client(server) as admin:
        body = {"name": name, "type": "harbor", "url": url, **fields}
        answer = admin.post("/registries", json=body)
    assert answer.status_code == 201, answer.text
    return id_from_location(answer.headers["Location"])


def api_rule(server: RunningBerth, name: str, registry_id: int, **fields: Any) -> int:
    with admin_client(server) as admin:
        body = {"name": name, "dest_registry": {"id": registry_id}, **fields}
        answer = admin.post("/replication/policies", json=body)
    assert answer.status_code == 201, answer.text
    return id_from_location(answer.headers["Location"])


def row_of(page: Page, rows: str, text: str) -> Locator:
    return page.locator(rows).filter(has=page.locator("td.name", has_text=text))


def live_execution(server: RunningBerth, policy_id: int, resource: str) -> tuple[int, list[int]]:
    """An InProgress execution of four tasks (one done, three waiting) written into the
    database, with no job to carry it on; (its id, its task ids)."""
    now = datetime.now(UTC)
    run_sql(
        server,
        "INSERT INTO replication_execution (policy_id, status, status_text, trigger, operator,"
        " stop_requested, total, failed, succeed, in_progress, stopped, bytes, start_time)"
        " VALUES (?, 'InProgress', '', 'manual', 'admin', 0, 4, 0, 1, 0, 0, 2048, ?)",
        policy_id,
        now,
    )
    execution = run_sql(server, "SELECT max(id) FROM replication_execution")[0][0]
    for n, status in enumerate(["Succeed", "Pending", "Pending", "Pending"]):
        name = resource if n == 3 else f"library/app-{n}:v1"
        run_sql(
            server,
            "INSERT INTO replication_task (execution_id, resource_type, src_resource,"
            " dst_resource, operation, status, digest, attempts, bytes, log, spec)"
            " VALUES (?, 'image', ?, ?, 'copy', ?, '', 0, 0, ?, '{}')",
            execution,
            name,
            name,
            status,
            f"copying {name}\n",
        )
    tasks = run_sql(server, "SELECT id FROM replication_task WHERE execution_id = ?", execution)
    return int(execution), sorted(int(t[0]) for t in tasks)
