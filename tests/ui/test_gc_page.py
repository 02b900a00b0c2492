"""The garbage-collection page's runs in a real Chromium against a real Berth: run now (dry
and real) with the results shown as the page polls them, the history's pages, a run's log
(as text), stopping a waiting and a running run, and a second run refused meanwhile.

The page's server is this module's own, with a GC window of zero so that a blob is
collectable as soon as nothing names it; the stop tests use one whose jobs wait in Redis with
no worker, so a run stays Pending (or Running, once set so) until the test starts a worker.
The schedule form, rights and links: test_gc_page_schedule.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.factories import (
    GZIP_LAYER,
    admin_client,
    artifact_url,
    push_blob,
    push_layers,
    registry_client,
)
from tests.support import (
    REDIS,
    RunningBerth,
    berth_worker,
    broker_env,
    redis_answers,
    require,
    run_sql,
    running_berth,
)
from tests.ui.browser import TIMEZONE
from tests.ui.gcpage import (
    GC,
    ROWS,
    expect_finished,
    human_bytes,
    newest_run,
    open_gc_page,
    ready,
    run_now,
    wait_final,
    zoned,
)

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


def test_a_page_past_the_last_says_so(page: Page, server: RunningBerth) -> None:
    with admin_client(server) as admin:  # at least one run
        started = admin.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}})
        assert started.status_code == 201, started.text
        wait_final(admin, int(started.headers["Location"].rsplit("/", 1)[1]))
    open_gc_page(page, query="?page=999")
    ready(page)
    expect(page.locator(ROWS)).to_have_text(["No runs on this page."])
    expect(page.get_by_role("button", name="Previous")).to_be_enabled()
