"""The command line as a user meets it: help, refusals in one line, the admin's password."""

from __future__ import annotations

import getpass
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.ops.support import run_berth
from tests.support import ADMIN, running_berth, wait_until

FIRST_START = re.compile(r"the system administrator is admin with password (\S+) \(shown once")


def test_serve_help_shows_defaults_and_environment_variables(tmp_path: Path) -> None:
    text = run_berth(tmp_path, "serve", "--help").stdout
    flat = " ".join(text.split())  # the help wraps long texts; the words stay in order
    assert "--listen HOST:PORT" in flat
    assert "env BERTH_LISTEN; default: 127.0.0.1:5000" in flat
    assert "env BERTH_DATA_DIR; default: ./data" in flat
    assert "env BERTH_WORKERS; default: 0, one per CPU core" in flat


@pytest.mark.parametrize(
    "command", [["project", "create"], ["audit", "purge"], ["serve"], ["admin", "reset-password"]]
)
def test_flags_are_not_shown_as_taking_a_value(tmp_path: Path, command: list[str]) -> None:
    text = run_berth(tmp_path, *command, "--help").stdout
    assert "<bool>" not in text and "BOOLEAN" not in text
    assert re.search(r"^\s+--help\s+Show this message", text, re.M)


def test_a_bad_project_name_is_the_apis_message_in_one_line(tmp_path: Path) -> None:
    done = run_berth(tmp_path, "project", "create", "Bad_Name", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: invalid project name 'Bad_Name': 1..255 characters matching")


def test_the_first_start_line_is_whole_in_a_pipe(tmp_path: Path) -> None:
    # When Berth starts the first time without BERTH_ADMIN_PASSWORD, its output into a pipe
    done = run_berth(tmp_path, "project", "create", "team", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    # Then the generated password is on one line with its sentence, unbroken
    lines = done.stderr.splitlines()
    (password,) = [m.group(1) for line in lines if (m := FIRST_START.search(line))]
    assert len(password) >= 16


def admin_can_sign_in(url: str, password: str) -> bool:
    answer = httpx.get(f"{url}/v2/", auth=(ADMIN[0], password), timeout=10)
    assert answer.status_code in (200, 401, 429), answer.text
    return answer.status_code == 200


def reset(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_berth(
        data_dir.parent, "admin", "reset-password", *args, "--data-dir", str(data_dir),
        env={"BERTH_ADMIN_PASSWORD": ADMIN[1]},
    )  # fmt: skip


def test_reset_password_on_a_stopped_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_berth(data) as server:
        assert admin_can_sign_in(server.url, ADMIN[1])
    done = reset(data, "--password", "Recovered-Pass-2")
    assert done.returncode == 0, done.stderr
    with running_berth(data) as server:
        assert admin_can_sign_in(server.url, "Recovered-Pass-2")
        assert not admin_can_sign_in(server.url, ADMIN[1])


def test_reset_password_applies_at_once_to_a_running_server(tmp_path: Path) -> None:
    with running_berth(tmp_path / "data") as server:
        # Given the admin signed in a moment ago (remembered) and then locked out by typos
        assert admin_can_sign_in(server.url, ADMIN[1])
        for _ in range(5):
            admin_can_sign_in(server.url, "Wrong-Pass-0")
        wrong = httpx.get(f"{server.url}/v2/", auth=(ADMIN[0], "Wrong-Pass-0"), timeout=10)
        assert wrong.status_code == 429
        # When the password is reset, generated
        done = reset(server.data_dir)
        assert done.returncode == 0, done.stderr
        (password,) = re.findall(r"admin with password (\S+)$", done.stderr, re.M)
        # Then the new one works at once, on every server process, and the old one no longer
        assert all(admin_can_sign_in(server.url, password) for _ in range(6))
        assert not admin_can_sign_in(server.url, ADMIN[1])


def test_reset_password_is_in_the_audit_log(tmp_path: Path) -> None:
    with running_berth(tmp_path / "data") as server:
        # When the operator resets the admin's password from the command line
        done = reset(server.data_dir, "--password", "Recovered-Pass-3")
        assert done.returncode == 0, done.stderr
        # Then the audit API lists it: who (the OS user, through the CLI), what, on whom
        query = {"q": "resource_type=user,operation=update", "sort": "-op_time"}

        def listed() -> list[dict[str, object]]:
            answer = httpx.get(
                f"{server.url}/api/v2.0/auditlog-exts",
                params=query,
                auth=(ADMIN[0], "Recovered-Pass-3"),
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            return list(answer.json())

        (event,) = wait_until("the reset is listed", listed, within=20)
    assert event["resource"] == "admin"
    assert event["username"] == f"berth-cli:{getpass.getuser()}"
    assert event["operation_description"] == "password reset from the command line"
    assert event["operation_result"] is True


def test_reset_password_refuses_a_weak_password(tmp_path: Path) -> None:
    done = reset(tmp_path / "data", "--password", "short")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: --password: the password must be 8 to 128 characters")
    assert not (tmp_path / "data").exists()
