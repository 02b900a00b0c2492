"""The Docker engine against Berth's access control: members, guests, anonymous pulls, robots.

Accounts, projects, members and robots are made through the REST API in Harbor's shapes, as a
Harbor admin would script them; every user signs in with `docker login` on a DOCKER_CONFIG of
their own, so one login never replaces another on the shared dockerd. These tests run against
Berth only: the reference registry has no accounts.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from access.roles import Role
from tests.peers import Docker
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

PASSWORD = "Access-Test-Pass-1"  # meets the password policy: upper, lower, digit, 8+


@dataclasses.dataclass
class HarborAdmin:
    """The REST API as the system admin; each call names the endpoint when it fails."""

    registry: RunningBerth

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        url = f"{self.registry.url}/api/v2.0{path}"
        response = httpx.post(url, json=body, auth=ADMIN, timeout=30)
        assert response.status_code == 201, (
            f"POST /api/v2.0{path} answered {response.status_code} (404/405: endpoint missing?)"
            f"\n{response.text[:500]}"
        )
        return response

    def user(self, username: str) -> str:
        self.post(
            "/users",
            {
                "username": username,
                "email": f"{username}@example.com",
                "realname": username,
                "password": PASSWORD,
                "comment": "e2e access test",
            },
        )
        return username

    def project(self, name: str, public: bool = False) -> str:
        flag = "true" if public else "false"
        self.post("/projects", {"project_name": name, "metadata": {"public": flag}})
        return name

    def member(self, project: str, username: str, role: Role) -> None:
        body = {"role_id": role.value, "member_user": {"username": username}}
        self.post(f"/projects/{project}/members", body)

    def robot(self, project: str, name: str) -> tuple[str, str]:
        """A project robot allowed to push and pull; (its full name, its secret)."""
        access = [{"resource": "repository", "action": a} for a in ("push", "pull")]
        body = {
            "name": name,
            "description": "e2e pusher",
            "duration": -1,
            "level": "project",
            "disable": False,
            "permissions": [{"kind": "project", "namespace": project, "access": access}],
        }
        created = self.post("/robots", body).json()
        return created["name"], created["secret"]


@pytest.fixture
def harbor(berth_server: RunningBerth) -> HarborAdmin:
    return HarborAdmin(berth_server)


@pytest.fixture
def docker_as(dockerd: Docker, tmp_path: Path) -> Callable[[str], Docker]:
    """`docker_as("dev")`: the docker CLI on the shared dockerd with a config dir of its own."""

    def make(who: str) -> Docker:
        config = tmp_path / f"docker-config-{who}"
        config.mkdir(exist_ok=True)
        return Docker({**dockerd.env, "DOCKER_CONFIG": str(config)})

    return make


@pytest.fixture
def build_unique(dockerd: Docker, tmp_path: Path) -> Callable[[str], str]:
    """Build an image no other test has (a random layer) under `ref`; return its image ID."""

    def build(ref: str) -> str:
        context = tmp_path / f"context-{uuid.uuid4().hex[:8]}"
        context.mkdir()
        (context / "payload.bin").write_bytes(os.urandom(64 * 1024))
        (context / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
        return dockerd.build(context, ref)

    return build


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.stdout}\n{proc.stderr}"


def test_developer_logs_in_pushes_and_pulls_on_private_project(
    berth_server: RunningBerth,
    harbor: HarborAdmin,
    docker_as: Callable[[str], Docker],
    build_unique: Callable[[str], str],
) -> None:
    # Given a private project with a Developer member
    project = harbor.project(unique("private"))
    dev = harbor.user(unique("dev"))
    harbor.member(project, dev, Role.DEVELOPER)
    ref = f"{berth_server.host}/{project}/app:v1"
    built_id = build_unique(ref)

    # When the developer logs in with docker, pushes, drops the image locally and pulls it
    docker = docker_as(dev)
    login = docker.login(berth_server.host, dev, PASSWORD)
    docker.push(ref)
    docker.remove(ref)
    docker("pull", ref)

    # Then the login succeeded and the pulled image is the one built
    assert "Login Succeeded" in login.stdout
    assert docker.image_id(ref) == built_id
    docker.remove(ref)


def test_guest_push_is_denied(
    berth_server: RunningBerth,
    harbor: HarborAdmin,
    docker_as: Callable[[str], Docker],
    build_unique: Callable[[str], str],
) -> None:
    # Given a Guest of a private project, logged in with docker
    project = harbor.project(unique("guarded"))
    guest = harbor.user(unique("guest"))
    harbor.member(project, guest, Role.GUEST)
    docker = docker_as(guest)
    docker.login(berth_server.host, guest, PASSWORD)
    ref = f"{berth_server.host}/{project}/app:v1"
    build_unique(ref)

    # When the guest pushes
    push = docker("push", ref, check=False)

    # Then docker reports the push as denied
    assert push.returncode != 0
    assert "denied" in output(push).lower(), output(push)
    docker.remove(ref)


def test_anonymous_pull_from_public_library_works(
    berth_server: RunningBerth,
    docker_as: Callable[[str], Docker],
    build_unique: Callable[[str], str],
) -> None:
    # Given an image the admin pushed to the public project `library`
    ref = f"{berth_server.host}/library/{unique('public')}:v1"
    built_id = build_unique(ref)
    admin = docker_as("admin")
    admin.login(berth_server.host, *ADMIN)
    admin.push(ref)
    admin.remove(ref)

    # When someone who never logged in pulls it
    anonymous = docker_as("anonymous")
    anonymous("pull", ref)

    # Then they get the image
    assert anonymous.image_id(ref) == built_id
    anonymous.remove(ref)


def test_anonymous_pull_from_private_project_fails(
    berth_server: RunningBerth,
    harbor: HarborAdmin,
    docker_as: Callable[[str], Docker],
    build_unique: Callable[[str], str],
) -> None:
    # Given an image a Developer pushed to a private project
    project = harbor.project(unique("secret"))
    dev = harbor.user(unique("dev"))
    harbor.member(project, dev, Role.DEVELOPER)
    ref = f"{berth_server.host}/{project}/app:v1"
    build_unique(ref)
    developer = docker_as(dev)
    developer.login(berth_server.host, dev, PASSWORD)
    developer.push(ref)
    developer.remove(ref)

    # When someone who never logged in pulls it
    pull = docker_as("anonymous")("pull", ref, check=False)

    # Then the pull is refused and nothing was pulled
    assert pull.returncode != 0
    text = output(pull).lower()
    assert "denied" in text or "unauthorized" in text, output(pull)
    assert developer("image", "inspect", ref, check=False).returncode != 0


def test_robot_account_logs_in_and_pushes(
    berth_server: RunningBerth,
    harbor: HarborAdmin,
    docker_as: Callable[[str], Docker],
    build_unique: Callable[[str], str],
) -> None:
    # Given a project robot allowed to push and pull
    project = harbor.project(unique("ci"))
    robot, secret = harbor.robot(project, "pusher")
    ref = f"{berth_server.host}/{project}/app:v1"
    built_id = build_unique(ref)

    # When it logs in with docker and pushes, then pulls back
    docker = docker_as("robot")
    login = docker.login(berth_server.host, robot, secret)
    digest = docker.push(ref)
    docker.remove(ref)
    docker("pull", ref)

    # Then the robot's name is Harbor's robot$<project>+<name>, and its push is served back
    assert robot == f"robot${project}+pusher"
    assert "Login Succeeded" in login.stdout
    assert docker.image_id(ref) == built_id
    assert f"{berth_server.host}/{project}/app@{digest}" in docker.repo_digests(ref)
    docker.remove(ref)
