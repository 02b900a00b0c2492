"""The garbage-collection page's schedule form and its errors, its run form's own checks,
who may open the page, its links with the audit log and its security policy, in a real
Chromium against the dashboard tests' Berth."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, admin_client, new_user
from tests.support import RunningBerth
from tests.ui.gcpage import GC, human_bytes, open_gc_page, ready, zoned


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
