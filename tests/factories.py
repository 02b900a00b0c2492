"""What tests make before they act: users, projects, members, robots, pushed images.

Each is one small call over the REST API or the registry with sensible defaults, so that a
test says only what matters to it. The plain functions talk to a real server (a
`RunningBerth`, with httpx); the `app_` ones to Berth in the test's process (an
`InProcessBerth`, with Quart's test client). The request bodies are built once, here.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import zstandard
from werkzeug.datastructures import Headers

from tests.support import ADMIN, InProcessBerth, RunningBerth

API = "/api/v2.0"
PASSWORD = "Passw0rd-ok"  # every user a factory makes has it
PROJECT_ADMIN, DEVELOPER, GUEST, MAINTAINER, LIMITED_GUEST = 1, 2, 3, 4, 5  # Harbor's role ids

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def id_from_location(location: str) -> int:
    return int(location.rsplit("/", 1)[1])


# --- bodies ----------------------------------------------------------------------------------


def user_body(name: str, **fields: Any) -> dict[str, Any]:
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD, **fields}


def project_body(name: str, public: bool = False) -> dict[str, Any]:
    return {"project_name": name, "metadata": {"public": str(public).lower()}}


def member_body(username: str, role_id: int) -> dict[str, Any]:
    return {"role_id": role_id, "member_user": {"username": username}}


def access(*pairs: str) -> list[dict[str, str]]:
    """Robot permissions from "resource:action" pairs."""
    return [{"resource": p.split(":")[0], "action": p.split(":")[1]} for p in pairs]


def robot_body(project: str, *pairs: str, **fields: Any) -> dict[str, Any]:
    """A project-level robot with the given resource:action pairs (default: pull)."""
    return {
        "name": unique("bot"),
        "description": "ci",
        "level": "project",
        "duration": -1,
        "disable": False,
        "permissions": [
            {
                "kind": "project",
                "namespace": project,
                "access": access(*(pairs or ("repository:pull",))),
            }
        ],
        **fields,
    }


def system_entry(*pairs: str) -> dict[str, Any]:
    """A robot permission of Harbor's system level (kind "system", namespace "/")."""
    return {"kind": "system", "namespace": "/", "access": access(*pairs)}


def system_robot_body(*entries: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Harbor's RobotCreate of a system-level robot, as a replication tool would send it."""
    return {
        "name": unique("sys"),
        "description": "replicator",
        "level": "system",
        "duration": -1,
        "disable": False,
        "permissions": list(entries),
        **fields,
    }


def config_blob(tag: str) -> bytes:
    """An image config, different per tag (so each tag is a different artifact)."""
    return json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()


def image_manifest(config: bytes, layers: list[dict[str, Any]] | None = None) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": layers or [],
    }
    return json.dumps(manifest).encode()


def a_tar(size: int = 200_000) -> bytes:
    """A tar holding one file of random bytes (unique per call)."""
    body = os.urandom(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(f"file-{uuid.uuid4().hex}")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


COMPRESS = {
    GZIP_LAYER: gzip.compress,
    DOCKER_GZIP_LAYER: gzip.compress,
    ZSTD_LAYER: lambda data: zstandard.ZstdCompressor().compress(data),
    TAR_LAYER: lambda data: data,
}


# --- a real server (httpx) -------------------------------------------------------------------


def admin_client(server: RunningBerth) -> httpx.Client:
    """The REST API as the system admin."""
    return httpx.Client(base_url=server.url + API, auth=ADMIN, timeout=30, verify=server.verify)


def client_as(server: RunningBerth, name: str | None, password: str = PASSWORD) -> httpx.Client:
    """The REST API as name (a factory's user, by default), or anonymous for None."""
    auth = (name, password) if name else None
    return httpx.Client(base_url=server.url + API, auth=auth, timeout=30, verify=server.verify)


def registry_client(server: RunningBerth, auth: Any = ADMIN) -> httpx.Client:
    """The whole server (/v2 and /api) with Basic credentials, the admin's by default."""
    return httpx.Client(base_url=server.url, auth=auth, timeout=30, verify=server.verify)


def error_of(response: httpx.Response | Answer) -> str:
    return str(response.json()["errors"][0]["code"])


def message(response: httpx.Response | Answer) -> str:
    return str(response.json()["errors"][0]["message"])


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a registry token, read without its signature: what it grants."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def granted(server: RunningBerth, auth: Any, scope: str) -> list[str]:
    """The actions GET /service/token grants auth (None: nobody) for one scope, sorted."""
    answer = httpx.get(
        f"{server.url}/service/token",
        params={"service": "berth-registry", "scope": scope},
        auth=auth,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sorted(
        a for entry in claims_of(answer.json()["token"])["access"] for a in entry["actions"]
    )


def new_user(server: RunningBerth, prefix: str = "u", **fields: Any) -> tuple[int, str]:
    """A user made by the admin, whose password is PASSWORD; (user_id, username)."""
    name = unique(prefix)
    with admin_client(server) as admin:
        created = admin.post("/users", json=user_body(name, **fields))
    assert created.status_code == 201, created.text
    return id_from_location(created.headers["Location"]), name


def new_project(server: RunningBerth, public: bool = False, prefix: str = "p") -> tuple[int, str]:
    """A project made by the admin, named <prefix>-<random>; (project_id, name)."""
    name = unique(f"{prefix}-")
    with admin_client(server) as admin:
        created = admin.post("/projects", json=project_body(name, public))
    assert created.status_code == 201, created.text
    return id_from_location(created.headers["Location"]), name


def add_member(server: RunningBerth, project: str, username: str, role_id: int) -> int:
    """Make a user a member of a project; the membership id."""
    with admin_client(server) as admin:
        added = admin.post(f"/projects/{project}/members", json=member_body(username, role_id))
    assert added.status_code == 201, added.text
    return id_from_location(added.headers["Location"])


def new_member(server: RunningBerth, project: str, role_id: int, prefix: str = "m") -> str:
    """A new user holding role_id in project; the username."""
    _, name = new_user(server, prefix)
    add_member(server, project, name, role_id)
    return name


def new_robot(server: RunningBerth, project: str, *pairs: str) -> tuple[str, str]:
    """A project robot with the given resource:action pairs (default: pull); (name, secret)."""
    with admin_client(server) as admin:
        created = admin.post("/robots", json=robot_body(project, *pairs))
    assert created.status_code == 201, created.text
    return str(created.json()["name"]), str(created.json()["secret"])


def push_image(server: RunningBerth, repository: str, tag: str, auth: Any = ADMIN) -> str:
    """Push a config-only image (config blob and manifest); its manifest digest."""
    config = config_blob(tag)
    with registry_client(server, auth) as client:
        blob = client.post(
            f"/v2/{repository}/blobs/uploads/?digest={sha256(config)}", content=config
        )
        assert blob.status_code == 201, blob.text
        body = image_manifest(config)
        put = client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
    assert put.status_code == 201, put.text
    return sha256(body)


def push_blob(client: httpx.Client, repo: str, data: bytes) -> dict[str, Any]:
    """A monolithic blob upload; the descriptor's digest and size."""
    digest = sha256(data)
    sent = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert sent.status_code == 201, sent.text
    return {"digest": digest, "size": len(data)}


def push_layers(
    client: httpx.Client,
    repo: str,
    tag: str,
    layer_types: list[str],
    tars: list[bytes] | None = None,
    diff_ids: list[str] | None = None,
) -> tuple[str, list[str]]:
    """Push an image with one layer per media type, compressed from tars (random ones by
    default), whose config names diff_ids (by default the tars' own, which match);
    (manifest digest, layer digests)."""
    tars = tars if tars is not None else [a_tar() for _ in layer_types]
    layers = [
        {"mediaType": t, **push_blob(client, repo, COMPRESS[t](tar))}
        for t, tar in zip(layer_types, tars, strict=True)
    ]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha256(t) for t in tars]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **push_blob(client, repo, json.dumps(config).encode())},
        "layers": layers,
    }
    body = json.dumps(manifest).encode()
    put = client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201, put.text
    return sha256(body), [layer["digest"] for layer in layers]


def settled(
    client: httpx.Client, repo: str, digest: str, until: str | None = None, timeout: float = 30
) -> dict[str, Any]:
    """The artifact once its verification is no longer pending (or reaches `until`); as it
    is at the deadline otherwise, for the caller's assertion to show."""
    deadline = time.monotonic() + timeout
    while True:
        got = client.get(artifact_url(repo, digest))
        assert got.status_code == 200, got.text
        status = got.json()["verification"]["status"]
        done = status == until if until else status != "pending"
        if done or time.monotonic() > deadline:
            return dict(got.json())
        time.sleep(0.1)


def pull_manifest(
    server: RunningBerth, repo: str, reference: str, auth: Any = ADMIN
) -> httpx.Response:
    """GET /v2/<repo>/manifests/<reference>, as the admin by default."""
    url = f"{server.url}/v2/{repo}/manifests/{reference}"
    return httpx.get(url, headers={"Accept": OCI_MANIFEST}, auth=auth, timeout=30)


def manifest_digest(server: RunningBerth, repo: str, reference: str) -> str:
    """The digest the registry serves for a reference (asserting it serves one)."""
    got = pull_manifest(server, repo, reference)
    assert got.status_code == 200, got.text
    return got.headers["Docker-Content-Digest"]


def caller(server: RunningBerth, name: str | None) -> httpx.Client:
    """The whole server as name (PASSWORD), as the admin for "admin", anonymous for None."""
    auth = ADMIN if name == "admin" else (name, PASSWORD) if name else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=30, verify=server.verify)


def repository_url(repo: str) -> str:
    """The REST path of a repository, its name double-encoded as Harbor's clients send it."""
    project, _, rest = repo.partition("/")
    return f"{API}/projects/{project}/repositories/{rest.replace('/', '%252F')}"


def artifact_url(repo: str, reference: str) -> str:
    return f"{repository_url(repo)}/artifacts/{reference}"


# --- Berth in the test's process (Quart's test client) ---------------------------------------


@dataclass(frozen=True)
class Answer:
    """A response read whole, shaped like httpx's (status_code, headers, json(), text)."""

    status_code: int
    headers: Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class AppApi:
    """Requests to an in-process Berth as one caller (the admin by default; None: nobody).
    Paths are under /api/v2.0 unless they start with /v2, /c/ or /service."""

    def __init__(self, berth: InProcessBerth, auth: tuple[str, str] | None = ADMIN) -> None:
        self.berth = berth
        self.auth = auth

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        if not path.startswith(("/v2", "/c/", "/service", API)):
            path = API + path
        if "params" in kwargs:
            kwargs["query_string"] = kwargs.pop("params")
        answer = await self.berth.client.open(path, method=method, auth=self.auth, **kwargs)
        return Answer(answer.status_code, answer.headers, await answer.get_data())

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("DELETE", path, **kwargs)


def app_as(berth: InProcessBerth, name: str | None, password: str = PASSWORD) -> AppApi:
    """The in-process API as name (a factory's user, by default), or anonymous for None."""
    return AppApi(berth, (name, password) if name else None)


async def created(answer: Answer) -> int:
    """The id in a 201's Location (asserting it is a 201)."""
    assert answer.status_code == 201, answer.text
    return id_from_location(answer.headers["Location"])


async def app_user(berth: InProcessBerth, prefix: str = "u", **fields: Any) -> tuple[int, str]:
    """A user made by the admin, whose password is PASSWORD; (user_id, username)."""
    name = unique(prefix)
    return await created(await AppApi(berth).post("/users", json=user_body(name, **fields))), name


async def app_project(
    berth: InProcessBerth, public: bool = False, prefix: str = "p"
) -> tuple[int, str]:
    """A project made by the admin, named <prefix>-<random>; (project_id, name)."""
    name = unique(f"{prefix}-")
    body = project_body(name, public)
    return await created(await AppApi(berth).post("/projects", json=body)), name


async def app_member(berth: InProcessBerth, project: str, username: str, role_id: int) -> int:
    """Make a user a member of a project; the membership id."""
    body = member_body(username, role_id)
    return await created(await AppApi(berth).post(f"/projects/{project}/members", json=body))


async def app_robot(berth: InProcessBerth, project: str, *pairs: str) -> tuple[str, str]:
    """A project robot with the given resource:action pairs (default: pull); (name, secret)."""
    answer = await AppApi(berth).post("/robots", json=robot_body(project, *pairs))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["name"]), str(answer.json()["secret"])


async def app_system_robot(berth: InProcessBerth, *pairs: str) -> tuple[str, str]:
    """A system robot holding the given system-level pairs ("user:create"); (name, secret)."""
    answer = await AppApi(berth).post("/robots", json=system_robot_body(system_entry(*pairs)))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["name"]), str(answer.json()["secret"])


async def app_image(berth: InProcessBerth, repository: str, tag: str, auth: Any = ADMIN) -> str:
    """Push a config-only image through /v2; its manifest digest."""
    registry = AppApi(berth, auth)
    config = config_blob(tag)
    blob = await registry.post(
        f"/v2/{repository}/blobs/uploads/?digest={sha256(config)}", data=config
    )
    assert blob.status_code == 201, blob.text
    body = image_manifest(config)
    headers = {"Content-Type": OCI_MANIFEST}
    put = await registry.put(f"/v2/{repository}/manifests/{tag}", data=body, headers=headers)
    assert put.status_code == 201, put.text
    return sha256(body)


# --- replication (rows made through the ORM: Berth in the test's process) -------------------


async def replication_policy(**fields: Any) -> Any:
    """A push-mode replication policy row (to a remote registry row made with it), named
    uniquely; fields override its columns. The ReplicationPolicy."""
    from models import RemoteRegistry, ReplicationPolicy

    remote = await RemoteRegistry.create(
        name=unique("remote-"), url="https://registry.example", type="docker-registry"
    )
    values: dict[str, Any] = {
        "name": unique("rule-"),
        "dest_registry_id": remote.id,
        "trigger": {"type": "manual"},
        "creator": "admin",
        **fields,
    }
    return await ReplicationPolicy.create(**values)


# --- tag retention --------------------------------------------------------------------------


def retention_policy_body(project_id: int, cron: str = "", **rule: Any) -> dict[str, Any]:
    """Harbor's UI policy: keep the 3 most recently pushed of every repository and tag."""
    return {
        "algorithm": "or",
        "rules": [
            {
                "disabled": False,
                "action": "retain",
                "template": "latestPushedK",
                "params": {"latestPushedK": 3},
                "tag_selectors": [
                    {
                        "kind": "doublestar",
                        "decoration": "matches",
                        "pattern": "**",
                        "extras": '{"untagged":true}',
                    }
                ],
                "scope_selectors": {
                    "repository": [
                        {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
                    ]
                },
                **rule,
            }
        ],
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }
