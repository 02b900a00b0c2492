"""Schemathesis against a running Berth's /api/v2.0/openapi.json, on SQLite and PostgreSQL, as
the system admin and as a Guest member of a project: no answer is a 5xx, every answer's
status is documented and its body matches the documented schema.

Bounded (MAX_EXAMPLES per operation and phase) and derandomized (schemathesis' deterministic
generation; the seed is passed as well, for the phases that take one), so a run repeats. Half
of the path parameters come from data the fixture made (a project with an image, a member, a
robot, a webhook policy), so the fuzzer reaches real resources and checks real bodies, not
only 404s. Nothing is excluded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import (
    GUEST,
    PASSWORD,
    add_member,
    admin_client,
    new_project,
    new_robot,
    new_user,
    push_image,
)
from tests.support import ADMIN, RunningBerth, assert_log_clean, running_berth_with

SEED = 14
MAX_EXAMPLES = 4  # the four runs within 4 minutes on a loaded CI machine, with the routes to come
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass(frozen=True)
class Fuzzed:
    server: RunningBerth
    project: str
    guest: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """A Berth of the fuzzer's own per backend (what it creates and deletes touches no other
    test), with a project holding an image, a Guest, a robot and a webhook policy; nothing
    the fuzzer sends may be logged as an error."""
    data_dir = Path(tmp_path_factory.mktemp(f"berth-fuzz-{request.param}"))
    with running_berth_with(request.param, data_dir) as server:
        _, project = new_project(server, prefix="fuzz")
        push_image(server, f"{project}/app", "latest")
        _, guest = new_user(server, prefix="guest")
        add_member(server, project, guest, GUEST)
        new_robot(server, project)
        with admin_client(server) as admin:
            hook = {"name": "hook", "event_types": ["PUSH_ARTIFACT"], "enabled": True}
            hook["targets"] = [{"type": "http", "address": "http://127.0.0.1:9/hook"}]
            made = admin.post(f"/projects/{project}/webhook/policies", json=hook)
            assert made.status_code == 201, made.text
        yield Fuzzed(server, project, guest)
    assert_log_clean(data_dir / "server.log", during="the fuzzing")


def config(fuzzed: Fuzzed, folder: Path) -> Path:
    """schemathesis.toml: path parameters drawn half the time from what the fixture made."""
    known = {
        "names": [fuzzed.project, "1"],
        "repositories": ["app"],
        "references": ["latest"],
        "ids": [1, 2],
    }
    bindings = {
        "path.ref": "names",
        "path.project_name": "names",
        "path.repository_name": "repositories",
        "path.reference": "references",
        "path.tag_name": "references",
        **{
            f"path.{name}": "ids"
            for name in ("mid", "user_id", "robot_id", "policy_id", "registry_id", "run_id")
        },
    }
    lines = [
        f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n" for name, values in known.items()
    ]
    lines.append("[parameters]")
    lines += [
        f'"{key}" = {{ dictionary = "{d}", probability = 0.5 }}' for key, d in bindings.items()
    ]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("role", ["admin", "guest"])
def test_the_api_keeps_to_its_openapi_document(fuzzed: Fuzzed, role: str, tmp_path: Path) -> None:
    user, password = ADMIN if role == "admin" else (fuzzed.guest, PASSWORD)
    command = [
        str(SCHEMATHESIS),
        f"--config-file={config(fuzzed, tmp_path)}",
        "run",
        f"{fuzzed.server.url}/api/v2.0/openapi.json",
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
