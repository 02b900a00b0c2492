"""The replication page in a real Chromium against a real Berth: an admin adds a registry
(a second real Berth, and one at a closed port), writes a rule in the editor, runs it and
watches the execution succeed, then reads its tasks and a task's log; a live execution's
progress and Stop; the CI trigger's secret shown once; markup in names stays text; who may
open the page.

The page's server is the dashboard tests' Berth; the second Berth is this module's own. A
live execution is written into the database (tests/ui/replpage.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, admin_client, new_user, push_image
from tests.support import ADMIN, RunningBerth, free_port, run_sql, running_berth
from tests.ui.replpage import (
    EXECUTIONS,
    MARKUP,
    REGISTRIES,
    RULES,
    TASKS,
    api_registry,
    api_rule,
    live_execution,
    named,
    open_page,
    ready,
    row_of,
)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """A second Berth to replicate to."""
    with running_berth(Path(tmp_path_factory.mktemp("berth-ui-peer"))) as berth:
        yield berth


def test_an_admin_replicates_to_a_second_berth_and_reads_a_tasks_log(
    page: Page, server: RunningBerth, peer: RunningBerth
) -> None:
    # Given an image in this Berth
    repo = f"library/{named('repl-ui')}"
    digest = push_image(server, repo, "v1")
    registry, rule = named("peer"), named("to-peer")
    open_page(page)
    ready(page)
    # When the admin adds the second Berth and tests the connection from the form
    page.get_by_role("button", name="New registry").click()
    form = page.locator("#registry-form")
    form.get_by_label("Registry name").fill(registry)
    form.get_by_label("Type").select_option("harbor")
    form.get_by_label("URL").fill(peer.url)
    form.get_by_label("Access key").fill(ADMIN[0])
    form.get_by_label("Access secret").fill(ADMIN[1])
    form.get_by_role("button", name="Test connection").click()
    expect(page.locator("#ping-result")).to_have_text(f"Connection OK: {peer.url} answered.")
    form.get_by_role("button", name="Save registry").click()
    # Then it is listed, unknown until tested from its row, then healthy
    row = row_of(page, REGISTRIES, registry)
    expect(row.locator("td.url")).to_have_text(peer.url)
    expect(row.locator("td.status")).to_have_text("unknown")
    row.get_by_role("button", name=f"Test connection to {registry}").click()
    expect(row.locator("td.status")).to_have_text("healthy")
    # When the admin writes a push rule for the image's repository and runs it
    page.get_by_role("tab", name="Rules").click()
    expect(page).to_have_url(re.compile(r"\?tab=rules$"))
    page.get_by_role("button", name="New rule").click()
    editor = page.locator("#rule-form")
    editor.get_by_label("Rule name").fill(rule)
    editor.get_by_label("Mode").select_option("push")
    editor.get_by_label("Remote registry").select_option(label=f"{registry} ({peer.url})")
    editor.get_by_label("Name filter").fill(repo)
    editor.get_by_label("Tag filter").fill("v*")
    editor.get_by_role("button", name="Save rule").click()
    policy = row_of(page, RULES, rule)
    expect(policy.locator("td.mode")).to_contain_text(f"to {registry}")
    expect(policy.locator("td.rule-filters")).to_have_text(f"name {repo}, tag v*")
    expect(policy.locator("td.trigger")).to_have_text("Manual")
    policy.get_by_role("button", name=f"Replicate {rule} now").click()
    # Then its execution is listed, followed live until it has succeeded, then not polled
    expect(page).to_have_url(re.compile(r"\?tab=executions&policy=\d+$"))
    execution = page.locator(EXECUTIONS).first
    expect(execution.locator("td.rule")).to_have_text(rule)
    expect(execution.locator("td.status .badge")).to_have_text("Succeed", timeout=60_000)
    expect(execution.locator("td.succeeded")).to_have_text("1")
    expect(execution.locator("td.total")).to_have_text("1")
    expect(execution.locator(".progress-text")).to_have_text("1 of 1 task")
    expect(page.locator("#replication")).to_have_attribute("data-polling", "off")
    with httpx.Client(base_url=peer.url, auth=ADMIN) as other:
        copied = other.head(f"/v2/{repo}/manifests/v1", headers={"Accept": "*/*"})
    assert copied.headers.get("Docker-Content-Digest") == digest
    # And the list narrows to a status, in the link
    page.get_by_label("Status", exact=True).select_option("Failed")
    expect(page).to_have_url(re.compile(r"policy=\d+&status=Failed$"))
    expect(page.locator(EXECUTIONS)).to_have_text(["No execution matches."])
    page.get_by_label("Status", exact=True).select_option("Succeed")
    expect(execution.locator("td.rule")).to_have_text(rule)
    # When the admin opens its tasks and the task's log
    execution_id = execution.get_attribute("data-id")
    execution.get_by_role("button", name=f"Tasks of execution {execution_id}").click()
    task = page.locator(TASKS).first
    expect(task.locator("td.resource")).to_contain_text(repo)
    expect(task.locator("td.operation")).to_have_text("copy")
    expect(task.locator("td.status")).to_have_text("Succeed")
    task_id = task.get_attribute("data-id")
    task.get_by_role("button", name=f"Log of task {task_id}").click()
    # Then the log is the API's, as text, and the link keeps the drill-down over a reload
    with admin_client(server) as admin:
        log = admin.get(f"/replication/executions/{execution_id}/tasks/{task_id}/log").text
    assert log.strip()
    expect(page.locator("#log-text")).to_have_text(log.strip())
    expect(page).to_have_url(re.compile(rf"execution={execution_id}&task={task_id}$"))
    page.reload()
    expect(page.locator("#tasks-title")).to_contain_text(f"Tasks of execution {execution_id}")
    expect(page.locator("#log-text")).to_have_text(log.strip())


def test_a_registry_at_a_closed_port_is_unhealthy_with_the_reason_and_is_deleted(
    page: Page,
) -> None:
    name, url = named("closed"), f"http://127.0.0.1:{free_port()}"
    open_page(page)
    ready(page)
    # When the admin tests a registry nobody answers for, from the form
    page.get_by_role("button", name="New registry").click()
    form = page.locator("#registry-form")
    form.get_by_label("Registry name").fill(name)
    form.get_by_label("Type").select_option("docker-registry")
    form.get_by_label("URL").fill(url)
    form.get_by_role("button", name="Test connection").click()
    # Then the API's reason is shown in the form
    expect(page.locator("#registry-error")).to_contain_text("the registry is unhealthy")
    # And saved and tested from its row, the list shows it unhealthy, with the reason above
    form.get_by_role("button", name="Save registry").click()
    row = row_of(page, REGISTRIES, name)
    expect(row.locator("td.type")).to_have_text("Docker Registry")
    row.get_by_role("button", name=f"Test connection to {name}").click()
    expect(row.locator("td.status")).to_have_text("unhealthy")
    expect(page.locator("#message")).to_contain_text("the registry is unhealthy")
    # When it is deleted (confirmed), it is gone
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Delete registry {name}").click()
    expect(page.locator("#notice")).to_have_text(f"Registry {name} deleted.")
    expect(row).to_have_count(0)


def test_the_rule_editor_shows_the_apis_reason_and_a_registry_edit_keeps_its_secret(
    page: Page, server: RunningBerth, peer: RunningBerth
) -> None:
    registry, rule = named("edit-peer"), named("nightly")
    registry_id = api_registry(
        server, registry, peer.url, credential={"access_key": ADMIN[0], "access_secret": ADMIN[1]}
    )
    open_page(page, "?tab=rules")
    ready(page)
    # When a scheduled rule's cron has * in its minutes
    page.get_by_role("button", name="New rule").click()
    editor = page.locator("#rule-form")
    editor.get_by_label("Rule name").fill(rule)
    editor.get_by_label("Remote registry").select_option(str(registry_id))
    editor.get_by_label("Mode").select_option("pull")  # events are this Berth's: push only
    expect(editor.locator('option[value="event_based"]')).to_be_disabled()
    editor.get_by_label("Trigger").select_option("scheduled")
    editor.get_by_label(re.compile("^Cron")).fill("0 * 2 * * *")
    editor.get_by_label("Destination namespace").fill("mirror")
    editor.get_by_label("Flattening").select_option("1")
    editor.get_by_label("Tags that").select_option("excludes")
    editor.get_by_label("Tag filter").fill("*-rc")
    editor.get_by_label("Resource").select_option("image")
    editor.get_by_role("button", name="Save rule").click()
    # Then the API's reason is shown in the editor, and nothing was made
    expect(page.locator("#rule-error")).to_contain_text("must not have * in its minutes field")
    expect(row_of(page, RULES, rule)).to_have_count(0)
    # When the cron is a good one
    editor.get_by_label(re.compile("^Cron")).fill("0 30 2 * * *")
    editor.get_by_role("button", name="Save rule").click()
    # Then the rule is listed as written, and editing it shows what was saved
    policy = row_of(page, RULES, rule)
    expect(policy.locator("td.mode")).to_have_text(re.compile(f"^Pull\\s*from {registry}$"))
    expect(policy.locator("td.trigger")).to_have_text("Scheduled 0 30 2 * * *")
    expect(policy.locator("td.destination")).to_have_text("mirror (drop 1 part)")
    expect(policy.locator("td.rule-filters")).to_have_text("tag *-rc (excludes), images only")
    policy.get_by_role("button", name=f"Edit rule {rule}").click()
    expect(editor.get_by_label(re.compile("^Cron"))).to_have_value("0 30 2 * * *")
    expect(editor.get_by_label("Tags that")).to_have_value("excludes")
    expect(editor.get_by_label("Mode")).to_have_value("pull")
    expect(editor.get_by_label("Remote registry")).to_have_value(str(registry_id))
    expect(editor.get_by_label("Enabled")).to_be_checked()
    editor.get_by_label("Enabled").uncheck()
    editor.get_by_role("button", name="Save rule").click()
    expect(policy.locator("td.enabled")).to_have_text("Disabled")
    # When the registry is edited, its secret shows as ***** and saving keeps it
    page.get_by_role("tab", name="Registries").click()
    row = row_of(page, REGISTRIES, registry)
    row.get_by_role("button", name=f"Edit registry {registry}").click()
    form = page.locator("#registry-form")
    expect(form.get_by_label("Access secret")).to_have_value("*****")
    form.get_by_label("Description").fill(f"the peer {MARKUP}")
    form.get_by_label("Requests per second").fill("2.5")
    form.get_by_role("button", name="Save registry").click()
    expect(row.locator("td.name .description")).to_have_text(f"the peer {MARKUP}")
    row.get_by_role("button", name=f"Test connection to {registry}").click()
    expect(row.locator("td.status")).to_have_text("healthy")
    # And a secret emptied in the form is dropped: the peer refuses the admin without one
    row.get_by_role("button", name=f"Edit registry {registry}").click()
    form.get_by_label("Access secret").fill("")
    form.get_by_role("button", name="Save registry").click()
    expect(row.locator("td.status")).to_have_text("unknown")
    row.get_by_role("button", name=f"Test connection to {registry}").click()
    expect(row.locator("td.status")).to_have_text("unhealthy")
    expect(page.locator("#message")).to_contain_text("invalid credentials")
    with admin_client(server) as admin:
        shown = admin.get(f"/registries/{registry_id}").json()
        rules = admin.get("/replication/policies", params={"q": f"name={rule}"}).json()
    assert shown["credential"]["access_secret"] == ""
    assert shown["requests_per_second"] == 2.5
    assert [r["src_registry"]["id"] for r in rules] == [registry_id]
    assert rules[0]["dest_registry"]["id"] == 0 and rules[0]["enabled"] is False


def test_a_live_executions_progress_moves_and_it_is_stopped_and_markup_stays_text(
    page: Page, server: RunningBerth
) -> None:
    # Given a rule, a registry and a task resource whose names hold markup, and a live run
    registry = api_registry(server, f"{named('r')}{MARKUP}", f"http://127.0.0.1:{free_port()}")
    rule = f"{named('rule')}{MARKUP}"
    policy_id = api_rule(server, rule, registry, description=MARKUP)
    resource = f"library/x{MARKUP}"
    execution, tasks = live_execution(server, policy_id, resource)
    # When the admin opens its last task's log from the link
    open_page(page, f"?tab=executions&execution={execution}&task={tasks[3]}")
    ready(page)
    row = page.locator(f'{EXECUTIONS}[data-id="{execution}"]')
    # Then the progress shows one of four done, and the page polls
    expect(row.locator(".progress-text")).to_have_text("1 of 4 tasks")
    bar = row.locator("progress")
    expect(bar).to_have_attribute("max", "4")
    expect(page.locator("#replication")).to_have_attribute("data-polling", "on")
    # And every name and the log are text: no element was made from them
    expect(row.locator("td.rule")).to_have_text(rule)
    task = page.locator(f'{TASKS}[data-id="{tasks[3]}"]')
    expect(task.locator("td.resource")).to_have_text(resource)
    expect(page.locator("#log-text")).to_have_text(f"copying {resource}")
    page.get_by_role("tab", name="Rules").click()
    expect(row_of(page, RULES, rule).locator("td.mode")).to_contain_text(MARKUP)
    expect(row_of(page, RULES, rule).locator("td.name .description")).to_have_text(MARKUP)
    # And the rule may not be deleted while it runs: the API's reason is shown
    page.once("dialog", lambda dialog: dialog.accept())
    row_of(page, RULES, rule).get_by_role("button", name=f"Delete rule {rule}").click()
    expect(page.locator("#message")).to_contain_text("has an execution in progress: stop it first")
    expect(row_of(page, RULES, rule)).to_have_count(1)
    page.go_back()
    expect(page.locator("#log-text")).to_have_text(f"copying {resource}")
    assert page.locator("#pwned").count() == 0
    # When two more tasks finish, the bar moves without a reload
    run_sql(
        server, "UPDATE replication_task SET status = 'Succeed' WHERE id IN (?, ?)", *tasks[1:3]
    )
    run_sql(server, "UPDATE replication_execution SET succeed = 3 WHERE id = ?", execution)
    expect(row.locator(".progress-text")).to_have_text("3 of 4 tasks")
    # When the admin stops it
    with page.expect_request(lambda r: r.method == "PUT" and r.url.endswith(f"/{execution}")):
        row.get_by_role("button", name=f"Stop execution {execution}").click()
    # Then it is stopping, the waiting task is stopped, and Stop may not be asked twice
    stop = row.get_by_role("button", name=f"Stop execution {execution}")
    expect(stop).to_have_text("Stopping…")
    expect(stop).to_be_disabled()
    expect(task.locator("td.status")).to_have_text("Stopped")
    # And once it has ended (as the engine would end it) the page shows it and stops polling
    run_sql(
        server,
        "UPDATE replication_execution SET status = 'Stopped', end_time = ? WHERE id = ?",
        datetime.now(UTC),
        execution,
    )
    expect(row.locator("td.status .badge")).to_have_text("Stopped")
    expect(row.get_by_role("button", name=re.compile("^Stop"))).to_have_count(0)
    expect(page.locator("#replication")).to_have_attribute("data-polling", "off")
    assert page.locator("#pwned").count() == 0
    # And its tasks may be narrowed to a status, kept in the link
    page.get_by_label("Task status").select_option("Stopped")
    expect(page.locator(TASKS)).to_have_count(1)
    expect(page.locator(TASKS).first).to_have_attribute("data-id", str(tasks[3]))
    expect(page).to_have_url(re.compile(rf"execution={execution}&task_status=Stopped$"))
    page.get_by_label("Task status").select_option("Failed")
    expect(page.locator(TASKS)).to_have_text(["No task has this status."])
    # And now that it has ended, its rule is deleted
    page.get_by_role("tab", name="Rules").click()
    page.once("dialog", lambda dialog: dialog.accept())
    row_of(page, RULES, rule).get_by_role("button", name=f"Delete rule {rule}").click()
    expect(page.locator("#notice")).to_have_text(f"Rule {rule} deleted.")
    expect(row_of(page, RULES, rule)).to_have_count(0)


def test_a_ci_trigger_secret_is_shown_once_and_starts_the_rule(
    page: Page, server: RunningBerth, peer: RunningBerth
) -> None:
    registry = api_registry(server, named("ci-peer"), peer.url)
    rule = named("ci")
    policy_id = api_rule(
        server, rule, registry, filters=[{"type": "name", "value": "library/nothing-*"}]
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, "?tab=rules")
    ready(page)
    # When the admin asks for a new trigger secret (and confirms)
    page.once("dialog", lambda dialog: dialog.accept())
    rule_row = row_of(page, RULES, rule)
    rule_row.get_by_role("button", name=f"New CI trigger secret for {rule}").click()
    # Then the webhook URL and the secret are shown, saying it will not be shown again
    panel = page.locator("#secret-panel")
    expect(panel).to_contain_text("it will not be shown again")
    url = f"{server.url}/hooks/replication/{policy_id}"
    expect(panel.get_by_label("Webhook URL")).to_have_value(url)
    secret = panel.get_by_label("Secret").input_value()
    assert len(secret) >= 32
    # And the copy button puts the secret on the clipboard
    panel.get_by_role("button", name="Copy secret").click()
    expect(page.locator("#copy-status")).to_have_text("Secret copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    # And a CI delivery with it starts the rule
    started = httpx.post(url, headers={"X-Gitlab-Token": secret}, content=b"{}")
    assert started.status_code in (201, 202), started.text
    # When the panel is closed, the secret is gone from the page
    panel.get_by_role("button", name="Done").click()
    expect(panel).to_be_hidden()
    assert page.locator("#hook-secret").input_value() == ""


def test_a_user_who_is_no_admin_is_told_why_and_sees_no_controls(
    page: Page, server: RunningBerth
) -> None:
    _, name = new_user(server, "replplain")
    open_page(page, "?tab=rules", name, PASSWORD)
    expect(page.locator("#replication")).to_have_attribute("data-state", "denied")
    expect(page.locator("#denied")).to_contain_text("may not manage replication")
    expect(page.locator("#whoami")).to_have_text(name)
    for label in ("New registry", "New rule", "Test connection", "Replicate now"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    expect(page.get_by_role("tab")).to_have_count(0)


def test_without_a_session_the_page_asks_to_sign_in_first(page: Page) -> None:
    page.goto("/ui/replication?tab=executions")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Freplication%3Ftab%3Dexecutions$"))


def test_the_page_is_linked_and_its_scripts_carry_the_strict_policy(
    page: Page, server: RunningBerth
) -> None:
    scripts = ["replication", "replview", "replstate", "registries", "rules", "ruleform"]
    paths = ["/ui/replication", *(f"/ui/assets/{s}.js" for s in [*scripts, "executions"])]
    with httpx.Client(base_url=server.url) as client:
        answers = [client.get(p) for p in paths]
    for answer in answers:
        assert answer.status_code == 200
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)", answers[0].text)
    assert not re.search(r"\son[a-z]+=", answers[0].text)
    open_page(page, "", *ADMIN)
    page.get_by_role("link", name="Garbage collection").click()
    page.get_by_role("link", name="Replication").click()
    expect(page).to_have_url(re.compile(r"/ui/replication$"))
    expect(page.get_by_role("link", name="Replication")).to_have_attribute("aria-current", "page")
    ready(page)
    # And the tabs move with the arrow keys, each in the link
    page.get_by_role("tab", name="Registries").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Rules")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Rules")).to_be_focused()
    page.keyboard.press("End")
    expect(page).to_have_url(re.compile(r"\?tab=executions$"))
    expect(page.get_by_role("tabpanel")).to_have_attribute("id", "panel-executions")
