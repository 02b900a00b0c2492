"""The garbage-collection page in a real Chromium against a real Berth: run now (dry and
real) with the results shown as they come, a run's log, stopping a waiting run, the schedule
form and its errors, who may use the page, and the links between it and the audit log.

The page's server is this module's own, with a GC window of zero so that a blob is
collectable as soon as nothing names it; the stop test uses a second one whose jobs wait in
Redis with no worker, so its run stays Pending until it is stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.factories import (
    GZIP_LAYER,
    PASSWORD,
    admin_client,
    artifact_url,
    new_user,
    push_blob,
    push_layers,
    registry_client,
)
from tests.support import (
    ADMIN,
    REDIS,
    RunningBerth,
    berth_worker,
    broker_env,
    redis_answers,
    require,
    run_sql,
    running_berth,
    wait_until,
)
from tests.ui.browser import TIMEZONE

ROWS = "#runs tbody tr"
GC = "/system/gc"
NO_WINDOW = {"BERTH_GC__WINDOW_SECONDS": "0"}
DATA_IDS = "rows => rows.map(r => r.dataset.id)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """This module's Berth (embedded jobs), in place of the package's: GC window zero."""
    with running_berth(Path(tmp_path_factory.mktemp("berth-ui-gc")), NO_WINDOW) as berth:
        yield berth


@dataclass
class Queued:
    """A Berth whose jobs wait in Redis with no worker, its environment, a tab on it."""

    server: RunningBerth
    env: dict[str, str]
    page: Page


@pytest.fixture
def queued(browser: Any, tmp_path: Path) -> Iterator[Queued]:
    """A Berth whose jobs wait in Redis (no worker until the test starts one), and a tab."""
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    env = broker_env(REDIS)
    with running_berth(tmp_path, env) as berth:
        context = browser.new_context(base_url=berth.url, timezone_id=TIMEZONE, locale="en-GB")
        context.set_default_timeout(15_000)
        try:
            yield Queued(berth, env, context.new_page())
        finally:
            context.close()


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


def test_a_dry_run_finishes_on_the_page_with_what_it_would_free(
    page: Page, server: RunningBerth
) -> None:
    # Given a blob that no manifest names
    with registry_client(server) as registry:
        orphan = push_blob(registry, "library/gc-ui-dry", b"unreferenced" * 2000)
    open_gc_page(page)
    ready(page)
    # When the admin starts a dry run with two workers
    row = run_now(page, dry_run=True, workers=2)
    # Then the new run is listed first and, once it ends, shows its counts
    expect_finished(row)
    run = newest_run(server)
    assert row.get_attribute("data-id") == str(run["id"])
    assert run["blobs"] >= 1 and run["freed_bytes"] >= orphan["size"]
    expect(row.locator("td.trigger")).to_have_text("Manual")
    expect(row.locator("td.parameters")).to_have_text("dry run, 2 workers")
    expect(row.locator("td.blobs")).to_have_text(str(run["blobs"]))
    expect(row.locator("td.freed")).to_have_text(human_bytes(run["freed_bytes"]))
    expect(row.locator("td.freed")).to_have_attribute("title", f"{run['freed_bytes']:,} bytes")
    expect(row.locator("td.started time")).to_have_text(zoned(run["creation_time"]))
    expect(row.locator("td.updated time")).to_have_text(zoned(run["update_time"]))
    # And a dry run deleted nothing
    with registry_client(server) as registry:
        kept = registry.head(f"/v2/library/gc-ui-dry/blobs/{orphan['digest']}")
    assert kept.status_code == 200


def test_a_real_run_after_an_image_was_deleted_shows_the_bytes_it_freed(
    page: Page, server: RunningBerth
) -> None:
    # Given an image with a layer of about 200 kB, then deleted
    repo = "library/gc-ui-real"
    with registry_client(server) as registry:
        digest, layers = push_layers(registry, repo, "v1", [GZIP_LAYER])
        layer = registry.head(f"/v2/{repo}/blobs/{layers[0]}")
        size = int(layer.headers["Content-Length"])
        deleted = registry.delete(artifact_url(repo, digest))
    assert deleted.status_code == 200, deleted.text
    open_gc_page(page)
    ready(page)
    # When the admin runs a real collection
    row = run_now(page)
    # Then it ends having freed at least the layer, as the page shows in human units
    expect_finished(row)
    run = newest_run(server)
    assert json.loads(run["job_parameters"])["dry_run"] is False
    assert run["freed_bytes"] >= size and run["blobs"] >= 2  # the layer and the config
    expect(row.locator("td.parameters")).to_have_text("real run, 1 worker")
    expect(row.locator("td.freed")).to_have_text(human_bytes(run["freed_bytes"]))
    assert re.fullmatch(r"\d+\.\d (KiB|MiB)", row.locator("td.freed").inner_text())
    expect(row.locator("td.uploads")).to_have_text(str(run["uploads"]))
    expect(row.locator("td.manifests")).to_have_text(str(run["manifests"]))
    # And the layer is gone from the registry
    with registry_client(server) as registry:
        assert registry.head(f"/v2/{repo}/blobs/{layers[0]}").status_code == 404


def test_a_runs_log_opens_as_text_and_stays_open_on_reload(
    page: Page, server: RunningBerth
) -> None:
    open_gc_page(page)
    row = run_now(page, dry_run=True)
    expect_finished(row)
    run_id = row.get_attribute("data-id")
    # When its log is opened
    row.get_by_role("button", name=f"Log of run {run_id}").click()
    # Then the panel shows the run's log, as plain text, and the link names it
    log = page.locator("#log-text")
    expect(page.locator("#log-title")).to_have_text(f"Log of run {run_id}")
    expect(log).to_contain_text(f"garbage collection {run_id} started (MANUAL)")
    expect(log).to_contain_text("would free")
    assert log.locator("*").count() == 0
    with admin_client(server) as admin:
        assert log.inner_text().strip() == admin.get(f"{GC}/{run_id}/log").text.strip()
    expect(page).to_have_url(re.compile(rf"/ui/gc\?log={run_id}$"))
    # And a reload shows the same log; closing it takes it out of the link
    page.reload()
    expect(page.locator("#log-text")).to_contain_text(f"garbage collection {run_id} started")
    page.get_by_role("button", name="Close log").click()
    expect(page.locator("#log-panel")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/ui/gc$"))


def test_the_history_pages_newest_first_and_keeps_the_page_in_the_link(
    page: Page, server: RunningBerth
) -> None:
    # Given at least six runs
    with admin_client(server) as admin:
        for _ in range(6):
            started = admin.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}})
            assert started.status_code == 201, started.text
            wait_final(admin, int(started.headers["Location"].rsplit("/", 1)[1]))
        ids = [r["id"] for r in admin.get(GC, params={"page_size": 10}).json()]
    open_gc_page(page)
    # When five are shown a page, and the next page is asked for
    page.get_by_label("Rows per page").select_option("5")
    expect(page.locator(ROWS)).to_have_count(5)
    assert [int(i or 0) for i in page.locator(ROWS).evaluate_all(DATA_IDS)] == ids[:5]
    page.get_by_role("button", name="Next").click()
    # Then the next five are listed, and a reload stays on that page
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator(ROWS).first).to_have_attribute("data-id", str(ids[5]))
    page.reload()
    expect(page.locator(ROWS).first).to_have_attribute("data-id", str(ids[5]))
    expect(page.locator("#page-info")).to_contain_text("Page 2 of")


def wait_final(admin: httpx.Client, run_id: int) -> None:
    def final() -> bool:
        return admin.get(f"{GC}/{run_id}").json()["job_status"] in ("Success", "Error", "Stopped")

    wait_until(f"garbage collection {run_id} ends", final, within=60)


def test_a_waiting_run_is_stopped_and_a_second_run_is_refused_meanwhile(queued: Queued) -> None:
    page = queued.page
    open_gc_page(page)
    ready(page)
    # When a run is started while no worker takes jobs
    row = run_now(page)
    # Then it waits, with a Stop button
    run_id = row.get_attribute("data-id")
    expect(row.locator("td.status")).to_have_text("Pending")
    stop = row.get_by_role("button", name=f"Stop run {run_id}")
    expect(stop).to_be_visible()
    # And another run is refused with the API's reason
    page.get_by_role("button", name="Run now").click()
    refusal = f"garbage collection {run_id} is still running"
    expect(page.locator("#run-error")).to_contain_text(refusal)
    # When the admin stops the waiting run
    with page.expect_request(
        lambda r: r.method == "PUT" and r.url.endswith(f"/api/v2.0{GC}/{run_id}")
    ):
        stop.click()
    # Then it is Stopped, with nothing freed, and its log says so
    row = page.locator(f'{ROWS}[data-id="{run_id}"]')
    expect_finished(row, "Stopped")
    expect(row.locator("td.freed")).to_have_text("0 B")
    row.get_by_role("button", name=f"Log of run {run_id}").click()
    expect(page.locator("#log-text")).to_contain_text("stopped before it started")


def test_a_running_run_asked_to_stop_shows_stopping_until_it_has_stopped(
    queued: Queued,
) -> None:
    page = queued.page
    open_gc_page(page)
    row = run_now(page)
    run_id = row.get_attribute("data-id")
    expect(row.locator("td.status")).to_have_text("Pending")
    # Given the run is at work (set in the database: a real run ends before a click lands)
    run_sql(queued.server, "UPDATE gc_run SET status = 'Running' WHERE id = ?", int(run_id or 0))
    row = page.locator(f'{ROWS}[data-id="{run_id}"]')
    expect(row.locator("td.status")).to_have_text("Running")  # the page polls it
    # When the admin stops it
    with page.expect_request(
        lambda r: r.method == "PUT" and r.url.endswith(f"/api/v2.0{GC}/{run_id}")
    ):
        row.get_by_role("button", name=f"Stop run {run_id}").click()
    # Then the page says it is stopping, and it may not be asked twice
    stopping = row.get_by_role("button", name=f"Stop run {run_id}")
    expect(stopping).to_have_text("Stopping…")
    expect(stopping).to_be_disabled()
    expect(row.locator("td.status")).to_have_text("Running")
    # When a worker carries the run on, it finds the request and stops; the page shows it
    with berth_worker(queued.server.data_dir, queued.env):
        expect_finished(row, "Stopped")
    expect(row.locator("td.freed")).to_have_text("0 B")


def test_a_custom_schedule_with_a_bad_cron_is_refused_and_a_good_one_shows_its_next_run(
    page: Page, server: RunningBerth
) -> None:
    open_gc_page(page)
    expect(page.locator("#schedule-form")).to_have_attribute("data-state", "ready")
    expect(page.locator("#schedule-type")).to_contain_text("None")
    # When the admin asks for a Custom schedule with a minute that does not exist
    page.get_by_label("Type").select_option("Custom")
    cron = page.get_by_label(re.compile("^Cron"))
    cron.fill("0 61 * * * *")
    page.get_by_role("button", name="Save schedule").click()
    # Then the API's reason is shown beside the form, and nothing was set
    expect(page.locator("#schedule-error")).to_contain_text("is not a valid cron expression")
    with admin_client(server) as admin:
        assert admin.get(f"{GC}/schedule").json()["schedule"]["type"] == "None"
    # When a good cron is given, with delete untagged
    cron.fill("0 30 2 1 1 *")
    page.get_by_label("Delete untagged", exact=True).check()
    page.get_by_role("button", name="Save schedule").click()
    # Then it is saved and shown with its next run in the viewer's zone
    expect(page.locator("#schedule-saved")).to_have_text("Schedule saved.")
    expect(page.locator("#schedule-error")).to_be_hidden()
    try:
        with admin_client(server) as admin:
            body = admin.get(f"{GC}/schedule").json()
        assert body["schedule"]["cron"] == "0 30 2 1 1 *"
        assert body["parameters"]["delete_untagged"] is True
        expect(page.locator("#schedule-type")).to_have_text("Custom")
        expect(page.locator("#schedule-cron")).to_have_text("0 30 2 1 1 *")
        next_run = zoned(body["schedule"]["next_scheduled_time"])
        expect(page.locator("#schedule-next")).to_have_text(next_run)
        assert re.fullmatch(r"\d{4}-01-01 03:30:00 UTC\+01:00", next_run)  # Berlin in winter
        said = "real run, delete untagged, 1 worker"
        expect(page.locator("#schedule-parameters")).to_have_text(said)
        # And a reload shows the form as saved
        page.reload()
        expect(page.get_by_label("Type")).to_have_value("Custom")
        expect(page.get_by_label(re.compile("^Cron"))).to_have_value("0 30 2 1 1 *")
    finally:
        with admin_client(server) as admin:
            admin.put(f"{GC}/schedule", json={"schedule": {"type": "None"}})


def test_a_user_who_is_no_admin_is_told_why_and_sees_no_controls(
    page: Page, server: RunningBerth
) -> None:
    _, name = new_user(server, "gcplain")
    open_gc_page(page, name, PASSWORD)
    expect(page.locator("#gc")).to_have_attribute("data-state", "denied")
    expect(page.locator("#denied")).to_contain_text("may not use garbage collection")
    expect(page.locator("#denied")).to_contain_text("garbage-collection:list")
    expect(page.get_by_role("button", name="Run now")).to_be_hidden()
    expect(page.locator("#runs")).to_be_hidden()
    expect(page.locator("#whoami")).to_have_text(name)


def test_without_a_session_the_page_asks_to_sign_in_first(page: Page) -> None:
    page.goto("/ui/gc?page=2")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fgc%3Fpage%3D2$"))


def test_the_audit_log_and_the_gc_page_link_to_each_other(page: Page) -> None:
    open_gc_page(page)
    expect(page.get_by_role("link", name="Garbage collection")).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(re.compile(r"/ui/audit$"))
    page.get_by_role("link", name="Garbage collection").click()
    expect(page).to_have_url(re.compile(r"/ui/gc$"))
    ready(page)


def test_the_gc_page_and_its_scripts_carry_the_strict_policy(server: RunningBerth) -> None:
    paths = ["/ui/gc", "/ui/assets/gc.js", "/ui/assets/gcview.js", "/ui/assets/gcschedule.js"]
    with httpx.Client(base_url=server.url) as client:
        answers = [client.get(p) for p in paths]
    for answer in answers:
        assert answer.status_code == 200
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
    # No inline script or handler in the page itself: the policy would block them
    assert not re.search(r"<script(?![^>]*\bsrc=)", answers[0].text)
    assert not re.search(r"\son[a-z]+=", answers[0].text)


def test_markup_in_a_log_is_shown_as_text(page: Page) -> None:
    # Given a run whose log (as the server would send it) holds markup
    open_gc_page(page)
    row = run_now(page, dry_run=True)
    expect_finished(row)
    run_id = row.get_attribute("data-id")
    markup = '<img src=x id="pwned" onerror="document.title=1"> <b>bold</b>\n'
    page.route(
        f"**/api/v2.0{GC}/{run_id}/log",
        lambda route: route.fulfill(body=markup, content_type="text/plain; charset=utf-8"),
    )
    # When its log is opened
    row.get_by_role("button", name=f"Log of run {run_id}").click()
    # Then the markup is text in the panel, and no element was made from it
    expect(page.locator("#log-text")).to_have_text(markup)
    assert page.locator("#log-text *, #pwned").count() == 0


def test_sizes_are_written_in_binary_units(page: Page) -> None:
    page.goto("/ui/login")
    script = """async (sizes) => {
        const view = await import("/ui/assets/gcview.js");
        return sizes.map((n) => view.humanBytes(n));
    }"""
    sizes = [0, 1023, 1024, 1536, 200_000, 5 * 1024**3]
    assert page.evaluate(script, sizes) == [human_bytes(n) for n in sizes]
    assert page.evaluate(script, [1536, 5 * 1024**3]) == ["1.5 KiB", "5.0 GiB"]


def test_workers_outside_one_to_ten_are_refused_before_anything_runs(
    page: Page, server: RunningBerth
) -> None:
    open_gc_page(page)
    ready(page)
    before = page.locator("#summary").inner_text()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    for workers in ("0", "11", "2.5"):
        page.get_by_label("Workers", exact=True).fill(workers)
        page.get_by_role("button", name="Run now").click()
        expect(page.locator("#run-error")).to_have_text(
            "Workers must be a whole number from 1 to 10."
        )
    assert sent == [] and page.locator("#summary").inner_text() == before


def test_a_page_past_the_last_says_so(page: Page, server: RunningBerth) -> None:
    with admin_client(server) as admin:  # at least one run
        started = admin.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}})
        assert started.status_code == 201, started.text
        wait_final(admin, int(started.headers["Location"].rsplit("/", 1)[1]))
    open_gc_page(page, query="?page=999")
    ready(page)
    expect(page.locator(ROWS)).to_have_text(["No runs on this page."])
    expect(page.get_by_role("button", name="Previous")).to_be_enabled()
