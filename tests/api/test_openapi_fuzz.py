"""Schemathesis against a running Berth's /api/v2.0/openapi.json, on SQLite and PostgreSQL, as
the system admin and as a Guest member of a project: no answer is a 5xx, every answer's
status is documented and its body matches the documented schema. Bounded (a few examples per
operation), with a fixed seed and derandomized, so a run is repeatable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import GUEST, PASSWORD, add_member, new_project, new_user
from tests.support import ADMIN, RunningBerth, assert_log_clean, running_berth_with

SEED = 14
MAX_EXAMPLES = 3
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """A Berth of the fuzzer's own per backend (what it creates and deletes touches no other
    test); nothing it sends may be logged as an error."""
    data_dir = Path(tmp_path_factory.mktemp(f"berth-fuzz-{request.param}"))
    with running_berth_with(request.param, data_dir) as server:
        yield server
    assert_log_clean(data_dir / "server.log", during="the fuzzing")


def guest(server: RunningBerth) -> tuple[str, str]:
    """A user who is only a Guest of one project."""
    _, project = new_project(server)
    _, name = new_user(server)
    add_member(server, project, name, GUEST)
    return name, PASSWORD


@pytest.mark.parametrize("role", ["admin", "guest"])
def test_the_api_keeps_to_its_openapi_document(
    fuzzed: RunningBerth, role: str, tmp_path: Path
) -> None:
    user, password = ADMIN if role == "admin" else guest(fuzzed)
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{fuzzed.url}/api/v2.0/openapi.json",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--generation-deterministic",
        "--workers=1",
        "--no-color",
        "--request-timeout=30",
        f"--auth={user}:{password}",
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        check=False,
        cwd=tmp_path,  # its own files (.schemathesis/) stay out of the checkout
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
