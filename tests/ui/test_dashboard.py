"""The dashboard in a real Chromium against a real Berth: sign-in, the audit log's table,
filters, free-text highlights, paging, CSV export, and who may read it.

Events are made through the API first (users created by the admin, sign-ins with /c/login),
each test with users of its own, so its filters see only its own events.
"""

from __future__ import annotations

import csv
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, new_user
from tests.support import ADMIN, RunningBerth
from tests.ui.browser import TIMEZONE

API = "/api/v2.0"
ROWS = "#events tbody tr"


def sign_in(page: Page, name: str, password: str) -> None:
    """Fill in and send the sign-in form, as a person would."""
    page.goto("/ui/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in_admin(page: Page) -> None:
    sign_in(page, *ADMIN)
    expect(page).to_have_url(re.compile(r"/ui/audit"))
    shown(page)


def shown(page: Page) -> None:
    """Wait until the audit page has shown its first result (its script owns the form then)."""
    expect(page.locator("#audit")).to_have_attribute("data-state", "ready")


def log_in_times(server: RunningBerth, name: str, agents: list[str]) -> None:
    """Sign name in once per user agent (each a login event), one after another."""
    for agent in agents:
        response = httpx.post(
            f"{server.url}/c/login",
            data={"principal": name, "password": PASSWORD},
            headers={"User-Agent": agent},
        )
        assert response.status_code == 200, response.text


def audit_events(server: RunningBerth, **params: Any) -> httpx.Response:
    response = httpx.get(f"{server.url}{API}/auditlog-exts", params=params, auth=ADMIN)
    assert response.status_code == 200, response.text
    return response


def wait_for_text_index(server: RunningBerth, text: str, count: int) -> None:
    """Free text follows the database within a second or two: wait until it has caught up."""
    deadline = time.monotonic() + 15
    while int(audit_events(server, text=text, sort="-op_time").headers["X-Total-Count"]) < count:
        assert time.monotonic() < deadline, f"{text!r} not searchable after 15 s"
        time.sleep(0.1)


def column(page: Page, name: str) -> list[str]:
    return page.locator(f"{ROWS} td.{name}").all_inner_texts()


def user_with_logins(server: RunningBerth, prefix: str, count: int) -> str:
    _, name = new_user(server, prefix)
    log_in_times(server, name, [f"agent-{i}" for i in range(1, count + 1)])
    return name


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_audit_log(page: Page) -> None:
    # When the admin mistypes the password
    sign_in(page, ADMIN[0], "not-the-password")
    # Then the form says so and stays
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    # When the right password is given
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    # Then the audit log opens, with that sign-in as its newest event
    expect(page).to_have_url(re.compile(r"/ui/audit$"))
    expect(page.locator("#whoami")).to_have_text(ADMIN[0])
    first = page.locator(ROWS).first
    expect(first.locator("td.operation")).to_have_text("login")
    expect(first.locator("td.user")).to_have_text(ADMIN[0])
    expect(first.locator("td.result")).to_have_text("Succeeded")


def test_sign_in_says_when_too_many_attempts_failed(page: Page, server: RunningBerth) -> None:
    # Given a user name whose password was guessed wrong five times
    _, name = new_user(server, "guessed")
    for _ in range(5):
        wrong = httpx.post(f"{server.url}/c/login", data={"principal": name, "password": "x"})
        assert wrong.status_code == 401
    # When the right password is given in the form
    sign_in(page, name, PASSWORD)
    # Then the form asks to wait
    expect(page.locator("#login-error")).to_contain_text("Too many failed sign-ins. Try again in")
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_a_visitor_without_a_session_signs_in_and_comes_back_to_the_same_view(
    page: Page, server: RunningBerth
) -> None:
    name = user_with_logins(server, "back", 1)
    # When a shared link is opened without a session
    page.goto(f"/ui/audit?user={name}")
    # Then sign-in comes first, and afterwards the link's view
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("User name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/ui/audit\?user={name}$"))
    expect(page.get_by_label("User", exact=True)).to_have_value(name)
    expect(page.locator(ROWS)).to_have_count(1)


def test_signing_out_ends_the_session(page: Page) -> None:
    signed_in_admin(page)
    page.get_by_role("link", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto("/ui/audit")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))


def test_the_newest_events_come_first(page: Page, server: RunningBerth) -> None:
    # Given a signed-in admin, then a new user created and signing in three times
    signed_in_admin(page)
    name = user_with_logins(server, "newest", 3)
    # When the audit log is opened
    page.goto("/ui/audit")
    # Then its top rows are those events, newest first, with every column filled
    rows = page.locator(ROWS)
    expect(rows.nth(3).locator("td.resource")).to_contain_text(name)
    assert column(page, "user")[:4] == [name, name, name, ADMIN[0]]
    assert column(page, "operation")[:4] == ["login", "login", "login", "create"]
    assert column(page, "resource-type")[:4] == ["user"] * 4
    agents = [rows.nth(i).locator("td.client").get_attribute("title") for i in range(3)]
    assert agents == ["agent-3", "agent-2", "agent-1"]
    assert column(page, "client")[0] == "127.0.0.1"
    times = [rows.nth(i).locator("time").get_attribute("datetime") or "" for i in range(4)]
    assert times == sorted(times, reverse=True)


def zone_of(when: datetime) -> str:
    """How the dashboard names the viewer's offset from UTC at that moment: UTC+01:00."""
    offset = when.astimezone(ZoneInfo(TIMEZONE)).strftime("%z")
    return "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:]}"


def test_event_times_name_their_time_zone(page: Page, server: RunningBerth) -> None:
    # Given a user's sign-in, and a viewer in a time zone away from UTC
    name = user_with_logins(server, "zoned", 1)
    event = audit_events(server, q=f"username={name}", sort="-op_time").json()[0]
    signed_in_admin(page)
    # When the audit log shows that user's events
    page.goto(f"/ui/audit?user={name}")
    expect(page.locator(ROWS).first.locator("td.user")).to_have_text(name)
    # Then the time is the viewer's local time, saying which zone that is
    when = datetime.fromisoformat(event["op_time"].replace("Z", "+00:00"))
    local = when.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M:%S")
    shown = page.locator(ROWS).first.locator("time")
    expect(shown).to_have_text(f"{local} {zone_of(when)}")
    assert shown.get_attribute("datetime") == event["op_time"]


def test_filters_by_user_and_operation_and_keeps_them_in_the_link(
    page: Page, server: RunningBerth
) -> None:
    # Given a user with two sign-ins, made by the admin (a create event)
    name = user_with_logins(server, "filter", 2)
    signed_in_admin(page)
    # When the log is filtered by that user
    page.get_by_label("User", exact=True).fill(name)
    page.get_by_role("button", name="Apply").click()
    # Then only their two sign-ins are listed
    expect(page.locator(ROWS)).to_have_count(2)
    assert column(page, "user") == [name, name]
    expect(page.locator("#summary")).to_have_text("2 events")
    # When the admin's own creates are asked for instead
    page.get_by_label("User", exact=True).fill(ADMIN[0])
    page.get_by_label("Operation").select_option("create")
    expect(page).to_have_url(re.compile(r"operation=create"))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"{ROWS} td.resource", has_text=name)).to_have_count(1)
    assert set(column(page, "operation")) == {"create"}
    assert set(column(page, "user")) == {ADMIN[0]}
    # And a reload shows the same filters and result
    page.reload()
    expect(page.get_by_label("Operation")).to_have_value("create")
    expect(page.get_by_label("User", exact=True)).to_have_value(ADMIN[0])
    expect(page.locator(f"{ROWS} td.resource", has_text=name)).to_have_count(1)


def test_free_text_matches_are_highlighted_and_event_text_stays_text(
    page: Page, server: RunningBerth
) -> None:
    # Given a sign-in whose user agent holds a unique word wrapped in markup
    word = f"probe{uuid.uuid4().hex[:8]}"
    _, name = new_user(server, "text")
    log_in_times(server, name, [f"<b>{word}</b> <img src=x onerror=alert(1)> agent/1.0"])
    wait_for_text_index(server, word, 1)
    signed_in_admin(page)
    # When that word is searched for
    page.get_by_label("Search").fill(word)
    page.get_by_label("Search").press("Enter")
    # Then the event is listed with the word marked, and the agent's markup shown as text
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(f"{ROWS} mark")).to_have_text(word)
    client = page.locator(f"{ROWS} td.client")
    expect(client).to_contain_text(f"<b>{word}</b> <img src=x")
    assert page.locator(f"{ROWS} b, {ROWS} img").count() == 0
    expect(page).to_have_url(re.compile(rf"text={word}"))


def test_markup_in_a_tried_user_name_is_shown_as_text(page: Page, server: RunningBerth) -> None:
    # Given a failed sign-in by somebody who typed markup as their user name
    tried = f'<img src=x id="pwn{uuid.uuid4().hex[:8]}" onerror=alert(1)>'
    refused = httpx.post(f"{server.url}/c/login", data={"principal": tried, "password": "x"})
    assert refused.status_code == 401
    signed_in_admin(page)
    # When the admin filters by exactly that name
    page.get_by_label("User", exact=True).fill(tried)
    page.get_by_role("button", name="Apply").click()
    # Then the failed attempt is listed with the name as plain text
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(f"{ROWS} td.user")).to_have_text(tried)
    expect(page.locator(f"{ROWS} td.result")).to_have_text("Failed")
    assert page.locator(f"{ROWS} img").count() == 0


def test_pages_of_five_move_forward_and_back(page: Page, server: RunningBerth) -> None:
    # Given seven events of one user
    name = user_with_logins(server, "pages", 7)
    signed_in_admin(page)
    # When they are listed five to a page
    page.goto(f"/ui/audit?user={name}")
    shown(page)
    page.get_by_label("Rows per page").select_option("5")
    # Then the first page has five, the second the other two
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
    expect(page.locator(ROWS)).to_have_count(5)
    first_page = [page.locator(ROWS).nth(i).get_attribute("data-id") for i in range(5)]
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    second_page = [page.locator(ROWS).nth(i).get_attribute("data-id") for i in range(2)]
    assert not set(first_page) & set(second_page)
    # And the page is part of the link: a reload stays there, Previous goes back
    page.reload()
    expect(page.locator("#page-info")).to_have_text("Page 2 of 2")
    page.get_by_role("button", name="Previous").click()
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
    expect(page.locator(ROWS)).to_have_count(5)
    assert [page.locator(ROWS).nth(i).get_attribute("data-id") for i in range(5)] == first_page


def test_csv_export_holds_the_filtered_events(page: Page, server: RunningBerth) -> None:
    # Given a user's three sign-ins, shown filtered in the dashboard
    name = user_with_logins(server, "export", 3)
    signed_in_admin(page)
    page.goto(f"/ui/audit?user={name}&operation=login")
    shown(page)
    expect(page.locator("#summary")).to_have_text("3 events")
    # When the CSV is exported
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    # Then the file holds exactly those events
    with open(download.value.path(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert download.value.suggested_filename.endswith(".csv")
    assert [r["username"] for r in rows] == [name] * 3
    assert {r["operation"] for r in rows} == {"login"}
    assert [r["user_agent"] for r in rows] == ["agent-3", "agent-2", "agent-1"]


def test_a_time_range_in_local_time_selects_events(page: Page, server: RunningBerth) -> None:
    # Given a user's two sign-ins, and the viewer in a time zone away from UTC
    name = user_with_logins(server, "range", 2)
    first = audit_events(server, q=f"username={name}", sort="op_time").json()[0]["op_time"]
    minute_before = datetime.fromisoformat(first) - timedelta(minutes=1)
    local = minute_before.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%dT%H:%M:%S")
    signed_in_admin(page)
    page.goto(f"/ui/audit?user={name}")
    shown(page)
    expect(page.locator(ROWS)).to_have_count(2)
    # When the range ends a minute before the first sign-in
    page.get_by_label("To").fill(local)
    page.get_by_role("button", name="Apply").click()
    # Then nothing is listed
    expect(page.locator(ROWS)).to_have_text(["No events match these filters."])
    # When the range starts there instead
    page.get_by_label("To").fill("")
    page.get_by_label("From").fill(local)
    page.get_by_role("button", name="Apply").click()
    # Then both are listed again
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator("#summary")).to_have_text("2 events")


def test_a_user_who_may_not_read_the_log_is_told_so(page: Page, server: RunningBerth) -> None:
    _, name = new_user(server, "plain")
    sign_in(page, name, PASSWORD)
    expect(page).to_have_url(re.compile(r"/ui/audit$"))
    expect(page.locator("#denied")).to_contain_text("you may not read the audit log")
    expect(page.locator("#events")).to_be_hidden()
    expect(page.locator("#whoami")).to_have_text(name)


def test_pages_carry_security_headers(server: RunningBerth) -> None:
    with httpx.Client(base_url=server.url) as client:
        home = client.get("/")
        pages = [client.get(p) for p in ("/ui/login", "/ui/audit", "/ui/assets/audit.js")]
    assert home.status_code == 302 and home.headers["location"] == "/ui/audit"
    for response in pages:
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "javascript" in pages[2].headers["content-type"]
