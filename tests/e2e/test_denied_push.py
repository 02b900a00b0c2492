"""A push the role does not allow fails at once with the reason, with the real Docker engine.

dockerd retries a layer upload five times, five seconds apart and growing, unless the 403
carries a message of its own: the spec's bare "requested access to the resource is denied"
is read back as a retryable code. So the reason is what makes the refusal quick.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import Docker
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

PASSWORD = "Denied-Push-Pass-1"


def api_post(server: RunningBerth, path: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/api/v2.0{path}", json=body, auth=ADMIN, timeout=30)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"


def test_a_guest_push_is_refused_within_seconds_saying_which_role_it_needs(
    berth_server: RunningBerth, dockerd: Docker, tmp_path: Path
) -> None:
    # Given a Guest of a private project, logged in with docker, and an image of their own
    project = f"denied{uuid.uuid4().hex[:8]}"
    guest = f"guest{uuid.uuid4().hex[:8]}"
    api_post(berth_server, "/projects", {"project_name": project, "metadata": {"public": "false"}})
    api_post(
        berth_server,
        "/users",
        {"username": guest, "email": f"{guest}@example.com", "password": PASSWORD},
    )
    api_post(
        berth_server,
        f"/projects/{project}/members",
        {"role_id": 3, "member_user": {"username": guest}},
    )
    docker = Docker({**dockerd.env, "DOCKER_CONFIG": str(tmp_path / "docker-config")})
    docker.login(berth_server.host, guest, PASSWORD)
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload.bin").write_bytes(os.urandom(64 * 1024))
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
    ref = f"{berth_server.host}/{project}/app:v1"
    docker.build(context, ref)

    # When the guest pushes
    started = time.monotonic()
    push = docker("push", ref, check=False)
    took = time.monotonic() - started

    # Then docker fails at once (no retries) and tells them what is missing
    text = f"{push.stdout}\n{push.stderr}"
    assert push.returncode != 0, text
    assert f"push to project {project} needs the Developer role or higher" in text, text
    assert "Retrying" not in text, text
    assert took < 10, f"a denied push took {took:.1f} s:\n{text}"
    docker.remove(ref)
