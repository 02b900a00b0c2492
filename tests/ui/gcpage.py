"""What the GC page's browser tests share: signing in to the page, starting a run from
its form, waiting for a run's row to end, and how the page writes sizes and times."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.factories import admin_client
from tests.support import ADMIN, RunningBerth, wait_until
from tests.ui.browser import TIMEZONE

ROWS = "#runs tbody tr"
GC = "/system/gc"


def open_gc_page(
    page: Page, name: str = ADMIN[0], password: str = ADMIN[1], query: str = ""
) -> None:
    """Sign in through the form, coming back to the GC page (with query); wait for it."""
    page.goto(f"/ui/login?{urlencode({'next': f'/ui/gc{query}'})}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/ui/gc{re.escape(query)}$"))
    page.wait_for_load_state()


def ready(page: Page) -> None:
    expect(page.locator("#gc")).to_have_attribute("data-state", "ready")


def human_bytes(size: int) -> str:
    """How the page writes a size: whole bytes below a KiB, else one decimal of the unit."""
    value, unit = float(size), 0
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def zoned(iso: str) -> str:
    """An API time as the page shows it: the viewer's local time and its offset from UTC."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(TIMEZONE))
    offset = when.strftime("%z")
    zone = "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{when:%Y-%m-%d %H:%M:%S} {zone}"


def newest_run(server: RunningBerth) -> dict[str, Any]:
    with admin_client(server) as admin:
        rows: list[dict[str, Any]] = admin.get(GC, params={"page_size": 1}).json()
    assert rows, "no run in the history"
    return rows[0]


def run_now(page: Page, dry_run: bool = False, workers: int = 1) -> Locator:
    """Fill in "Run now" and send it; the history's top row (the new run)."""
    ready(page)
    before = page.locator(ROWS).first.get_attribute("data-id") if page.locator(ROWS).count() else ""
    page.get_by_label("Dry run", exact=True).set_checked(dry_run)
    page.get_by_label("Workers", exact=True).fill(str(workers))
    page.get_by_role("button", name="Run now").click()
    top = page.locator(ROWS).first
    if before:
        expect(top).not_to_have_attribute("data-id", before)
    expect(top).to_have_attribute("data-id", re.compile(r"^\d+$"))
    return top


def expect_finished(row: Locator, status: str = "Success") -> None:
    """The row's run ends: the page polls it until it is final (no reload)."""
    expect(row.locator("td.status")).to_have_text(status, timeout=60_000)
    expect(row.get_by_role("button", name=re.compile("^Stop"))).to_have_count(0)


def wait_final(admin: httpx.Client, run_id: int) -> None:
    def final() -> bool:
        return admin.get(f"{GC}/{run_id}").json()["job_status"] in ("Success", "Error", "Stopped")

    wait_until(f"garbage collection {run_id} ends", final, within=60)
