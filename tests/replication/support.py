"""What the replication end-to-end tests drive: the peers (two Berths, Distribution with
htpasswd), Harbor's replication API on a Berth, and the real clients that put images on one
registry and read them back from another (docker, podman, skopeo, the oras client).

A test pushes with a real client to the source, runs a policy through the API as Harbor's
UI would, and reads the copy back at the destination with a real client: the digests there
are what the client computed at the source.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.peers import Docker, Podman, Skopeo, running_distribution
from tests.support import ADMIN, RunningBerth, wait_until

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EVERY_MANIFEST = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
FINAL_STATES = frozenset({"Succeed", "Failed", "Stopped"})
PLATFORMS = ("amd64", "arm64")

# The Distribution peer's only account (bcrypt in its htpasswd file).
DISTRIBUTION_USER = ("replicator", "Repl-Dist-Pass-1")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- the peers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A registry a policy copies from or to, as a Berth would register it."""

    name: str  # "berth-a", "berth-b", "distribution"
    server: RunningBerth
    kind: str  # Harbor's registry type: "harbor" (also Berth) or "docker-registry"
    username: str
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def is_berth(self) -> bool:
        return self.kind == "harbor"


def berth_peer(name: str, server: RunningBerth) -> Peer:
    return Peer(name, server, "harbor", *ADMIN)


@contextmanager
def running_distribution_htpasswd(root: Path) -> Iterator[Peer]:
    """Debian's docker-registry with htpasswd auth: every request needs Basic credentials,
    as a registry on the internet would."""
    root.mkdir(parents=True, exist_ok=True)
    with running_distribution(root, dict([DISTRIBUTION_USER])) as server:
        yield Peer("distribution", server, "docker-registry", *DISTRIBUTION_USER)


def containers_env(root: Path, peers: list[Peer]) -> dict[str, str]:
    """Environment for podman and skopeo: every peer insecure (plain HTTP), each with its
    credentials in one auth file, no stray settings of the host's."""
    root.mkdir(parents=True, exist_ok=True)
    registries = "".join(f'[[registry]]\nlocation = "{p.host}"\ninsecure = true\n' for p in peers)
    (root / "registries.conf").write_text(f"unqualified-search-registries = []\n{registries}")
    auths = {p.host: {"auth": _basic(p.auth)} for p in peers}
    (root / "auth.json").write_text(json.dumps({"auths": auths}))
    return {
        **os.environ,
        "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
        "REGISTRY_AUTH_FILE": str(root / "auth.json"),
        "TMPDIR": str(root),
    }


def _basic(auth: tuple[str, str]) -> str:
    return base64.b64encode(":".join(auth).encode()).decode()


# --- Harbor's replication API on a Berth -----------------------------------------------


class ReplicationApi:
    """The calls Harbor's UI makes to set up and run a replication, against one Berth, as
    its admin. Each create answers 201 with a Location naming the new id."""

    def __init__(self, berth: Peer) -> None:
        self.berth = berth
        self.http = httpx.Client(base_url=f"{berth.url}/api/v2.0", auth=berth.auth, timeout=60)

    def close(self) -> None:
        self.http.close()

    def _created(self, path: str, body: dict[str, Any]) -> int:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
        return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    def add_registry(self, peer: Peer, name: str = "", password: str | None = None) -> int:
        """Register a peer (its account; `password` to register a wrong one)."""
        return self._created(
            "/registries",
            {
                "name": name or peer.name,
                "url": peer.url,
                "type": peer.kind,
                "insecure": True,
                "credential": {
                    "type": "basic",
                    "access_key": peer.username,
                    "access_secret": peer.password if password is None else password,
                },
            },
        )

    def add_policy(
        self,
        name: str,
        *,
        source: int | None = None,
        destination: int | None = None,
        repositories: str = "library/**",
        tag: tuple[str, str] | None = None,
        trigger: str = "manual",
        dest_namespace: str | None = None,
        replace_count: int | None = None,
        override: bool = True,
        replicate_deletion: bool = False,
        platforms: str | None = None,
    ) -> int:
        """A pull (`source`: a registry id) or push (`destination`) mode policy, enabled,
        filtering on a name pattern, maybe a tag (pattern, "matches" or "excludes") and
        maybe platforms (Berth's platform filter: "linux/arm64,linux/amd64")."""
        filters: list[dict[str, str]] = [{"type": "name", "value": repositories}]
        if tag:
            filters.append({"type": "tag", "value": tag[0], "decoration": tag[1]})
        if platforms:
            filters.append({"type": "platform", "value": platforms})
        body: dict[str, Any] = {
            "name": name,
            "src_registry": {"id": source} if source else None,
            "dest_registry": {"id": destination} if destination else None,
            "filters": filters,
            "trigger": {"type": trigger},
            "override": override,
            "replicate_deletion": replicate_deletion,
            "enabled": True,
        }
        if dest_namespace is not None:
            body["dest_namespace"] = dest_namespace
        if replace_count is not None:
            body["dest_namespace_replace_count"] = replace_count
        return self._created("/replication/policies", body)

    def delete_artifact(self, repository: str, reference: str) -> None:
        """Harbor's DELETE of an artifact (every tag on it goes), as the UI does it."""
        project, _, rest = repository.partition("/")
        path = f"/projects/{project}/repositories/{quote(rest, safe='')}/artifacts/{reference}"
        response = self.http.delete(path)
        assert response.status_code == 200, f"DELETE {path}: {response.status_code} {response.text}"

    def start(self, policy_id: int) -> int:
        """Start a manual execution; its id."""
        return self._created("/replication/executions", {"policy_id": policy_id})

    def execution(self, execution_id: int) -> dict[str, Any]:
        response = self.http.get(f"/replication/executions/{execution_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def executions(self, policy_id: int) -> list[dict[str, Any]]:
        response = self.http.get("/replication/executions", params={"policy_id": policy_id})
        assert response.status_code == 200, response.text
        return list(response.json())

    def wait(self, execution_id: int, within: float = 120.0) -> dict[str, Any]:
        """Poll the execution until it is Succeed, Failed or Stopped (bounded); it then."""
        return wait_until(
            f"execution {execution_id} on {self.berth.name} ends",
            lambda: _final(self.execution(execution_id)),
            within=within,
        )

    def run(self, policy_id: int, within: float = 120.0) -> dict[str, Any]:
        """Start an execution and wait for its end."""
        return self.wait(self.start(policy_id), within)

    def tasks(self, execution_id: int) -> list[dict[str, Any]]:
        response = self.http.get(
            f"/replication/executions/{execution_id}/tasks", params={"page_size": 100}
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    def task_log(self, execution_id: int, task_id: int) -> str:
        response = self.http.get(f"/replication/executions/{execution_id}/tasks/{task_id}/log")
        assert response.status_code == 200, response.text
        return response.text

    def explain(self, execution_id: int) -> str:
        """The execution, its tasks and their logs, for an assertion's message."""
        lines = [json.dumps(self.execution(execution_id))]
        for task in self.tasks(execution_id):
            lines.append(json.dumps(task))
            lines.append(self.task_log(execution_id, int(task["id"]))[-2000:])
        return "\n".join(lines)


def project_exists(berth: Peer, name: str) -> bool:
    """Whether a Berth has the project (Harbor's HEAD /api/v2.0/projects?project_name=)."""
    response = httpx.head(
        f"{berth.url}/api/v2.0/projects", params={"project_name": name}, auth=berth.auth
    )
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def _final(execution: dict[str, Any]) -> dict[str, Any] | None:
    return execution if execution.get("status") in FINAL_STATES else None


def assert_succeeded(api: ReplicationApi, execution: dict[str, Any]) -> None:
    assert execution["status"] == "Succeed", api.explain(int(execution["id"]))


# --- reading a registry over the distribution API --------------------------------------


def manifest(peer: Peer, repository: str, reference: str) -> httpx.Response | None:
    """GET a manifest (any kind) with the peer's credentials; None when it is not there."""
    response = _registry_get(peer, f"/v2/{repository}/manifests/{reference}", EVERY_MANIFEST)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, f"{peer.name}: {response.status_code} {response.text}"
    return response


def manifest_digest(peer: Peer, repository: str, reference: str) -> str | None:
    """The digest of the bytes served (checked against Docker-Content-Digest), or None."""
    response = manifest(peer, repository, reference)
    if response is None:
        return None
    digest = sha256(response.content)
    served = response.headers.get("Docker-Content-Digest", digest)
    assert served == digest, (
        f"{peer.name} serves {repository}:{reference} as {served}, bytes {digest}"
    )
    return digest


def tags(peer: Peer, repository: str) -> list[str]:
    response = _registry_get(peer, f"/v2/{repository}/tags/list", "application/json")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return sorted(response.json().get("tags") or [])


def catalog(peer: Peer, prefix: str) -> dict[str, list[str]]:
    """The peer's repositories under a prefix, with their tags (what was copied where)."""
    names: list[str] = []
    path: str | None = "/v2/_catalog?n=1000"
    while path:  # paged by Link: rel="next", as Distribution and Berth both do
        response = _registry_get(peer, path, "application/json")
        assert response.status_code == 200, response.text
        names += [r for r in response.json().get("repositories") or [] if r.startswith(prefix)]
        path = response.links.get("next", {}).get("url")
    return {name: tags(peer, name) for name in sorted(names)}


def discover(peer: Peer, repository: str, subject: str) -> list[dict[str, Any]]:
    """The referrers of a subject, as `oras discover` finds them: the referrers API, or,
    on a registry without one, the index under the fallback tag sha256-<hex>."""
    response = _registry_get(peer, f"/v2/{repository}/referrers/{subject}", OCI_INDEX)
    if response.status_code == 200 and response.headers.get("Content-Type", "").startswith(
        OCI_INDEX
    ):
        return list(response.json().get("manifests", []))
    fallback = manifest(peer, repository, subject.replace(":", "-"))
    return list(fallback.json().get("manifests", [])) if fallback is not None else []


def _registry_get(peer: Peer, path: str, accept: str) -> httpx.Response:
    """A GET with the peer's credentials: Basic on Distribution, a bearer token from Berth's
    token service (what any client does on its 401)."""
    with httpx.Client(base_url=peer.url, auth=peer.auth, timeout=60) as client:
        response = client.get(path, headers={"Accept": accept})
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer"):
            token = _token(client, challenge)
            response = client.get(
                path, headers={"Accept": accept, "Authorization": f"Bearer {token}"}
            )
        return response


def _token(client: httpx.Client, challenge: str) -> str:
    params = dict(
        part.split("=", 1) for part in challenge.split(" ", 1)[1].replace('"', "").split(",")
    )
    realm = params.pop("realm")
    answer = client.get(realm, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return str(body.get("token") or body["access_token"])


def push_tiny_images(peer: Peer, repository: str, tag_names: list[str]) -> dict[str, str]:
    """One small OCI image per tag, each of its own digest, pushed over the distribution
    API with Basic credentials (what a registry client does, minus the build); tag -> digest."""
    pushed = {}
    for tag in tag_names:
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        layer = (os.urandom(512), "application/vnd.oci.image.layer.v1.tar")
        pushed[tag] = push_manifest(peer, repository, tag, config, [layer])
    return pushed


def push_tag_signature(peer: Peer, repository: str, subject: str) -> str:
    """A signature in cosign's tag scheme: a manifest under the tag sha256-<hex>.sig whose
    layer is the simple-signing payload naming the subject; its digest."""
    payload = json.dumps(
        {"critical": {"image": {"docker-manifest-digest": subject}, "type": "cosign container"}}
    ).encode()
    layer = (payload, "application/vnd.dev.cosign.simplesigning.v1+json")
    tag = subject.replace(":", "-") + ".sig"
    return push_manifest(peer, repository, tag, b"{}", [layer])


def push_manifest(
    peer: Peer, repository: str, tag: str, config: bytes, layers: list[tuple[bytes, str]]
) -> str:
    """Upload the config and layers (POST + PUT ?digest=), then the OCI manifest under tag."""
    with httpx.Client(base_url=peer.url, auth=peer.auth, timeout=60) as client:
        for blob in (config, *(data for data, _ in layers)):
            started = client.post(f"/v2/{repository}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = httpx.URL(peer.url).join(started.headers["Location"])
            done = client.put(location.copy_merge_params({"digest": sha256(blob)}), content=blob)
            assert done.status_code == 201, done.text
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": kind, "digest": sha256(data), "size": len(data)}
                    for data, kind in layers
                ],
            }
        ).encode()
        put = client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
    return sha256(body)


# --- docker ----------------------------------------------------------------------------


def layered_context(workdir: Path, label: str, layers: int = 3, size: int = 64 * 1024) -> Path:
    """A FROM-scratch build context of a few small random layers, unique per label."""
    context = workdir / f"context-{label}"
    context.mkdir(parents=True)
    lines = ["FROM scratch"]
    for index in range(layers):
        (context / f"layer{index}.bin").write_bytes(os.urandom(size))
        lines.append(f"COPY layer{index}.bin /data/layer{index}.bin")
    lines.append(f'LABEL org.example.test="{label}"')
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    return context


@dataclass(frozen=True)
class DockerImage:
    repository: str
    tag: str
    digest: str  # what docker push printed
    image_id: str  # the local image (config digest)


def push_docker_image(
    docker: Docker, peer: Peer, workdir: Path, repository: str, tag: str = "v1"
) -> DockerImage:
    """Build a small image and `docker push` it to the peer; forget it locally."""
    docker.login(peer.host, *peer.auth)
    ref = f"{peer.host}/{repository}:{tag}"
    image_id = docker.build(layered_context(workdir, f"{repository}-{tag}".replace("/", "-")), ref)
    digest = docker.push(ref)
    docker.remove(ref)
    return DockerImage(repository, tag, digest, image_id)


def docker_pulls_same(docker: Docker, peer: Peer, repository: str, image: DockerImage) -> None:
    """`docker pull` from the peer gives the image that was built, under the pushed digest."""
    docker.login(peer.host, *peer.auth)
    ref = f"{peer.host}/{repository}:{image.tag}"
    docker("pull", ref)
    try:
        assert docker.image_id(ref) == image.image_id
        assert f"{peer.host}/{repository}@{image.digest}" in docker.repo_digests(ref)
    finally:
        docker.remove(ref)


# --- podman: a two-platform index -----------------------------------------------------


@dataclass(frozen=True)
class PushedIndex:
    repository: str
    tag: str
    digest: str  # the index, as podman computed it
    children: dict[str, str] = field(default_factory=dict)  # architecture -> manifest digest


def push_podman_index(
    podman: Podman, peer: Peer, workdir: Path, repository: str, tag: str = "v1"
) -> PushedIndex:
    """`podman manifest push --all` of an OCI index of an amd64 and an arm64 image."""
    local = f"localhost/{repository.replace('/', '-')}:list"
    podman("manifest", "create", local)
    for arch in PLATFORMS:
        marker = workdir / f"platform-{arch}"
        marker.write_text(f"linux/{arch} {os.urandom(8).hex()}\n")
        container = podman.buildah("from", "scratch").stdout.strip()
        podman.buildah("copy", container, str(marker), "/platform")
        podman.buildah("config", "--os", "linux", "--arch", arch, container)
        image = f"localhost/{repository.replace('/', '-')}:{arch}"
        podman.buildah("commit", "--quiet", "--rm", container, image)
        podman("manifest", "add", local, f"containers-storage:{image}")
    digest_file = workdir / "index-digest"
    podman(
        "manifest", "push", "--all", "--tls-verify=false", "--format", "oci",
        "--digestfile", str(digest_file), local, f"docker://{peer.host}/{repository}:{tag}",
    )  # fmt: skip
    digest = digest_file.read_text().strip()
    served = manifest(peer, repository, digest)
    assert served is not None
    children = {m["platform"]["architecture"]: m["digest"] for m in served.json()["manifests"]}
    return PushedIndex(repository, tag, digest, children)


def podman_pulls_platforms(podman: Podman, peer: Peer, repository: str, index: PushedIndex) -> None:
    """Each platform pulls through the index's digest at the peer, as the same manifest."""
    ref = f"{peer.host}/{repository}@{index.digest}"
    for arch, child in index.children.items():
        podman("pull", "--quiet", "--tls-verify=false", "--arch", arch, ref)
        seen = podman("image", "inspect", "--format", "{{.Architecture}}", ref).stdout.strip()
        assert seen == arch
        podman("image", "rm", ref)
        assert manifest_digest(peer, repository, child) == child


def skopeo_digest(skopeo: Skopeo, peer: Peer, repository: str, reference: str) -> str:
    """The digest of the manifest skopeo reads (`inspect --raw`), as a user would check."""
    sep = "@" if reference.startswith("sha256:") else ":"
    raw = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{peer.host}/{repository}{sep}{reference}",
    ).stdout
    return sha256(raw.encode())


# --- oras: an artifact and a referrer --------------------------------------------------


@dataclass(frozen=True)
class PushedArtifact:
    repository: str
    tag: str
    digest: str
    size: int
    files: dict[str, bytes]  # name -> content
    referrer: str  # the attached SBOM's manifest digest


SBOM_TYPE = "application/vnd.example.sbom.v1+json"


def oras_client(peer: Peer, workdir: Path) -> Any:
    """The oras client logged in to the peer (token auth on Berth, Basic on Distribution)."""
    import oras.client

    client = oras.client.OrasClient(
        hostname=peer.host, insecure=True, auth_backend="token" if peer.is_berth else "basic"
    )
    client.login(
        *peer.auth,
        hostname=peer.host,
        tls_verify=False,
        config_path=str(workdir / f"oras-{peer.name}.json"),
    )
    return client


def push_oras_artifact(
    peer: Peer, workdir: Path, repository: str, tag: str = "v1"
) -> PushedArtifact:
    """`oras push` of a one-file artifact, then `oras attach` of an SBOM to it. On a registry
    without the referrers API the attach also writes the fallback tag, as the oras CLI does."""
    import oras.oci

    client = oras_client(peer, workdir)
    readme = workdir / "README.md"
    readme.write_text(f"# replicated artifact\n{os.urandom(16).hex()}\n")
    client.push(
        target=f"{peer.host}/{repository}:{tag}", files=[str(readme)], disable_path_validation=True
    )
    served = manifest(peer, repository, tag)
    assert served is not None
    subject = sha256(served.content)
    sbom = workdir / "sbom.json"
    sbom.write_text(json.dumps({"packages": ["busybox"], "nonce": os.urandom(8).hex()}))
    (workdir / "sbom-config.json").write_text('{"generator": "berth-replication-e2e"}')
    client.push(
        target=f"{peer.host}/{repository}:sbom",
        files=[str(sbom)],
        manifest_config=f"{workdir / 'sbom-config.json'}:{SBOM_TYPE}",
        subject=oras.oci.Subject(OCI_MANIFEST, subject, len(served.content)),
        disable_path_validation=True,
    )
    referrer = manifest(peer, repository, "sbom")
    assert referrer is not None
    referrer_digest = sha256(referrer.content)
    if not any(d["digest"] == referrer_digest for d in discover(peer, repository, subject)):
        _write_fallback_tag(peer, repository, subject, referrer.content)
    return PushedArtifact(
        repository,
        tag,
        subject,
        len(served.content),
        {"README.md": readme.read_bytes()},
        referrer_digest,
    )


def _write_fallback_tag(peer: Peer, repository: str, subject: str, referrer: bytes) -> None:
    """The referrers tag schema of OCI 1.1: an index tagged sha256-<hex> listing the
    subject's referrers (here the one just pushed)."""
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(referrer),
                    "size": len(referrer),
                    "artifactType": SBOM_TYPE,
                }
            ],
        }
    ).encode()
    with httpx.Client(base_url=peer.url, auth=peer.auth, timeout=60) as client:
        put = client.put(
            f"/v2/{repository}/manifests/{subject.replace(':', '-')}",
            content=body,
            headers={"Content-Type": OCI_INDEX},
        )
    assert put.status_code == 201, put.text


def oras_pulls_same(peer: Peer, workdir: Path, repository: str, artifact: PushedArtifact) -> None:
    """`oras pull` at the peer gives the files back byte for byte, under the same digest, and
    `oras discover` finds the referrer there."""
    outdir = workdir / f"pulled-{peer.name}-{repository.replace('/', '-')}"
    outdir.mkdir(parents=True)
    client = oras_client(peer, workdir)
    files = client.pull(target=f"{peer.host}/{repository}@{artifact.digest}", outdir=str(outdir))
    assert {Path(f).name: Path(f).read_bytes() for f in files} == artifact.files
    assert manifest_digest(peer, repository, artifact.tag) == artifact.digest
    found = [d["digest"] for d in discover(peer, repository, artifact.digest)]
    assert artifact.referrer in found, f"referrers of {artifact.digest} at {peer.name}: {found}"
    assert manifest_digest(peer, repository, artifact.referrer) == artifact.referrer
