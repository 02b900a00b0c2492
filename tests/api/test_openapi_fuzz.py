"""Schemathesis against a running Berth's /api/v2.0/openapi.json, on SQLite and PostgreSQL, as
the system admin and as a Guest member of a project: no answer is a 5xx, every answer's
status is documented and its body matches the documented schema.

Bounded (MAX_EXAMPLES per operation and phase) and derandomized (schemathesis' deterministic
generation; the seed is passed as well, for the phases that take one), so a run repeats. Half
of the path parameters come from data the fixture made (a project with an image, a member, a
robot, a webhook policy, a user group member, a label on the image, an immutable rule, a
retention policy with a dry run's execution and tasks, the project's quota, the job service's
pools, queues and jobs, the image's digest, icon and additions, the project's metadata, a GC
and an audit purge), so the fuzzer reaches real resources and checks real bodies, not only
404s. Nothing is excluded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import (
    GUEST,
    PASSWORD,
    add_member,
    admin_client,
    id_from_location,
    new_project,
    new_robot,
    new_user,
    push_image,
    retention_policy_body,
)
from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    run_sql,
    running_berth_with,
    wait_until,
)

SEED = 14
# 4: the four runs within 4 minutes on a loaded CI machine. FUZZ_EXAMPLES digs deeper (not
# BERTH_*: the server refuses BERTH_ variables it does not know, and inherits the environment)
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass(frozen=True)
class Fuzzed:
    server: RunningBerth
    project: str
    guest: str
    ids: dict[str, list[Any]] = field(default_factory=dict)  # path parameter -> real values


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """A Berth of the fuzzer's own per backend (what it creates and deletes touches no other
    test), with a project holding an image, a Guest, a robot and the rows `seed` makes;
    nothing the fuzzer sends may be logged as an error."""
    data_dir = Path(tmp_path_factory.mktemp(f"berth-fuzz-{request.param}"))
    with running_berth_with(request.param, data_dir) as server:
        project_id, project = new_project(server, prefix="fuzz")
        digest = push_image(server, f"{project}/app", "latest")
        _, guest = new_user(server, prefix="guest")
        add_member(server, project, guest, GUEST)
        new_robot(server, project)
        with admin_client(server) as admin:
            ids = seed(admin, project_id, project)
            artifact = admin.get(f"/projects/{project}/repositories/app/artifacts/latest")
            assert artifact.status_code == 200, artifact.text
            ids["digest"] = [artifact.json()["icon"]]
        ids["reference"] = ["latest", digest]
        ids["job_id"] = [str(row[0]) for row in run_sql(server, "SELECT id FROM job")][:3]
        yield Fuzzed(server, project, guest, ids)
    assert_log_clean(data_dir / "server.log", during="the fuzzing")


def made(answer: httpx.Response) -> int:
    assert answer.status_code == 201, answer.text
    return id_from_location(answer.headers["Location"])


def seed(admin: httpx.Client, project_id: int, project: str) -> dict[str, list[Any]]:
    """Rows of every resource with a path parameter, made as the admin; parameter -> values."""
    hook = {"name": "hook", "event_types": ["PUSH_ARTIFACT"], "enabled": True}
    hook["targets"] = [{"type": "http", "address": "http://127.0.0.1:9/hook"}]
    hook_id = made(admin.post(f"/projects/{project}/webhook/policies", json=hook))
    label = {"name": "fuzz", "description": "", "color": "#0065AB"}
    label_id = made(admin.post("/labels", json=label))
    artifact = f"/projects/{project}/repositories/app/artifacts/latest"
    labelled = admin.post(f"{artifact}/labels", json={"id": label_id})
    assert labelled.status_code == 200, labelled.text
    rule = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    rule_id = made(admin.post(f"/projects/{project}/immutabletagrules", json=rule))
    retention_id = made(admin.post("/retentions", json=retention_policy_body(project_id)))
    run = admin.post(f"/retentions/{retention_id}/executions", json={"dry_run": True})
    execution_id = made(run)
    tasks_url = f"/retentions/{retention_id}/executions/{execution_id}/tasks"
    tasks = wait_until("the dry run's tasks", lambda: admin.get(tasks_url).json())
    group_id = made(admin.post("/usergroups", json={"group_name": "fuzz", "group_type": 2}))
    member = {"role_id": GUEST, "member_group": {"id": group_id}}
    group_member = made(admin.post(f"/projects/{project}/members", json=member))
    run_ids = [
        made(admin.post(f"/system/{job}/schedule", json=body))
        for job, body in (
            ("gc", {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}),
            (
                "purgeaudit",
                {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 24}},
            ),
        )
    ]
    quotas = admin.get("/quotas", params={"reference_id": project_id}).json()
    pools = admin.get("/jobservice/pools").json()
    queues = admin.get("/jobservice/queues").json()
    return {
        "policy_id": [hook_id, retention_id],
        "group_id": [group_id],
        "run_id": run_ids,
        "mid": [1, 2, group_member],
        "meta_name": ["public", "auto_scan", "retention_id"],
        "addition": ["build_history", "values.yaml", "readme.md", "dependencies"],
        "label_id": [label_id],
        "rule_id": [rule_id],
        "execution_id": [execution_id],
        "task_id": [t["id"] for t in tasks],
        "quota_id": [q["id"] for q in quotas] or [1],
        "pool_id": [p["worker_pool_id"] for p in pools] or ["1"],
        "job_type": [q["job_type"] for q in queues] or ["GARBAGE_COLLECTION"],
    }


def config(fuzzed: Fuzzed, folder: Path) -> Path:
    """schemathesis.toml: path parameters drawn half the time from what the fixture made."""
    known: dict[str, list[Any]] = {
        "names": [fuzzed.project, "1"],
        "repositories": ["app"],
        "references": ["latest"],
        "ids": [1, 2],
        **{f"real_{name}": values for name, values in fuzzed.ids.items()},
    }
    bindings = {
        "path.ref": "names",
        "path.project_name": "names",
        "path.repository_name": "repositories",
        "path.tag_name": "references",
        **{f"path.{name}": "ids" for name in ("user_id", "robot_id", "registry_id", "run_id")},
        **{f"path.{name}": f"real_{name}" for name in fuzzed.ids},
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
