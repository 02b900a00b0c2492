"""`berth jobs`: enqueue, list and follow jobs of a running server (embedded broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ops.support import run_berth
from tests.support import berth_cli, running_berth


def test_an_enqueued_job_is_followed_to_success_and_listed(tmp_path: Path) -> None:
    with running_berth(tmp_path):
        # Given a slow job added from the command line
        added = berth_cli(tmp_path, {}, "jobs", "enqueue", "sleep", "--args", '{"seconds": 1}')
        assert added.returncode == 0, added.stderr
        job_id = added.stdout.strip()
        # When it is followed
        followed = berth_cli(tmp_path, {}, "jobs", "follow", job_id)
        # Then the progress bar ends at 100% and the command says it succeeded
        assert followed.returncode == 0, followed.stderr
        assert "100%" in followed.stdout
        assert f"job {job_id} succeeded after 1 attempt(s)" in followed.stderr
        # And the list shows it, filtered by status and kind
        listed = berth_cli(tmp_path, {}, "jobs", "--status", "succeeded", "--kind", "sleep")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if f" {job_id} " in line)
        assert "sleep" in row and "succeeded" in row and "100%" in row
        other = berth_cli(tmp_path, {}, "jobs", "--status", "failed")
        assert f" {job_id} " not in other.stdout


def test_a_failing_job_is_followed_to_its_error(tmp_path: Path) -> None:
    with running_berth(tmp_path):
        bad = ["--args", '{"seconds": "soon"}', "--max-attempts", "1"]
        added = berth_cli(tmp_path, {}, "jobs", "enqueue", "sleep", *bad)
        followed = berth_cli(tmp_path, {}, "jobs", "follow", added.stdout.strip())
    assert followed.returncode == 1
    assert "ValueError" in followed.stderr


def test_an_unknown_kind_is_refused_at_once_with_the_known_kinds(tmp_path: Path) -> None:
    # When a job of a kind no pipeline runs is enqueued
    done = berth_cli(tmp_path, {}, "jobs", "enqueue", "nosuchkind")
    # Then it is refused in one line that lists the kinds, and no job exists
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "unknown job kind 'nosuchkind'" in line
    for kind in ("scrub", "sleep", "audit-purge"):
        assert kind in line
    listed = berth_cli(tmp_path, {}, "jobs")
    assert "nosuchkind" not in listed.stdout
    kinds = run_berth(tmp_path, "jobs", "kinds")
    assert "sleep" in kinds.stdout.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["enqueue", "sleep", "--args", "{nope"], "not JSON", id="bad-json"),
        pytest.param(["enqueue", "sleep", "--args", "[1]"], "JSON object", id="not-an-object"),
        pytest.param(["follow", "999"], "no job 999", id="missing-job"),
    ],
)
def test_bad_input_gets_a_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    done = berth_cli(tmp_path, {}, "jobs", *args)
    assert done.returncode == 2
    assert message in json.dumps(done.stdout + done.stderr)
