"""What the signing end-to-end tests share: images on disk for skopeo to push, the project
settings and keys they change through Berth's API, and the signature-checking setup of
the containers tools (a policy.json of type sigstoreSigned, a registries.d that turns on
sigstore attachments for Berth)."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.factories import admin_client, new_project
from tests.support import ADMIN, RunningBerth

ENFORCE = {"enable_content_trust_cosign": "true"}
SIGN_ON_PUSH = {"sign_on_push": "true"}
COSIGN_SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sig_tag(digest: str) -> str:
    """The tag cosign's tag scheme keeps an image's signatures under."""
    return digest.replace(":", "-", 1) + ".sig"


# --- images on disk --------------------------------------------------------------------


def oci_layout(directory: Path, tag: str = "v1") -> str:
    """A one-layer image of random bytes, written as an OCI layout; its manifest digest."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        content = os.urandom(64 * 1024)
        info = tarfile.TarInfo("data/random.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(plain.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(plain.getvalue())]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
        }
    ).encode()
    layout(directory, tag, manifest, [layer, config])
    return sha256(manifest)


def layout(directory: Path, tag: str, manifest: bytes, blobs: list[bytes]) -> None:
    """An OCI image layout holding manifest (under tag) and its blobs."""
    store = directory / "blobs" / "sha256"
    store.mkdir(parents=True)
    for data in (*blobs, manifest):
        (store / sha256(data).removeprefix("sha256:")).write_bytes(data)
    entry = {**_descriptor(OCI_MANIFEST, manifest)}
    entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


# --- Berth's API -----------------------------------------------------------------------


def project_with(server: RunningBerth, settings: dict[str, str], prefix: str) -> str:
    """A new private project with the given metadata switched; its name."""
    _, project = new_project(server, prefix=prefix)
    set_metadata(server, project, settings)
    return project


def set_metadata(server: RunningBerth, project: str, metadata: dict[str, str]) -> None:
    """Change project settings as Harbor's clients do: PUT /projects/{p} {"metadata": …}."""
    with admin_client(server) as admin:
        changed = admin.put(f"/projects/{project}", json={"metadata": metadata})
    assert changed.status_code == 200, changed.text


def signing_pem(server: RunningBerth, project: str) -> str:
    """The project's public signing key, downloaded as anyone verifying would."""
    with admin_client(server) as admin:
        got = admin.get(f"/projects/{project}/keys/signing.pem")
    assert got.status_code == 200, got.text
    assert "BEGIN PUBLIC KEY" in got.text, got.text
    return got.text


def trust_key(server: RunningBerth, project: str, pem: str, name: str = "ci") -> int:
    """The project trusts a cosign public key; the key's id in the API."""
    body = {"kind": "cosign", "name": name, "public_key": pem}
    with admin_client(server) as admin:
        made = admin.post(f"/projects/{project}/keys", json=body)
    assert made.status_code == 201, made.text
    return int(made.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def untrust_key(server: RunningBerth, project: str, key_id: int) -> None:
    with admin_client(server) as admin:
        gone = admin.delete(f"/projects/{project}/keys/{key_id}")
    assert gone.status_code == 200, gone.text


def registry_get(server: RunningBerth, path: str, accept: str = ACCEPT) -> httpx.Response:
    """GET on /v2 as the admin (blob redirects followed)."""
    return httpx.get(
        f"{server.url}/v2/{path}",
        headers={"Accept": accept},
        auth=ADMIN,
        timeout=30,
        follow_redirects=True,
    )


def put_manifest(server: RunningBerth, repo: str, reference: str, body: bytes) -> None:
    put = httpx.put(
        f"{server.url}/v2/{repo}/manifests/{reference}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
        auth=ADMIN,
        timeout=30,
    )
    assert put.status_code == 201, put.text


def refusal(response: httpx.Response) -> str:
    """The message of Harbor's 412 for a pull the project's policy refuses."""
    assert response.status_code == 412, f"{response.status_code}: {response.text}"
    error = response.json()["errors"][0]
    assert error["code"] == "PROJECTPOLICYVIOLATION", response.text
    return str(error["message"])


def signature_of(server: RunningBerth, repo: str, digest: str, within: float = 60) -> bytes:
    """The .sig manifest Berth made for digest, polled until it is both a referrer of the
    image and under the tag sha256-<hex>.sig (Berth signs after the push's answer)."""
    deadline = time.monotonic() + within
    while True:
        referrers = registry_get(server, f"{repo}/referrers/{digest}", OCI_INDEX)
        listed = referrers.json().get("manifests", []) if referrers.status_code == 200 else []
        signed = [m for m in listed if m.get("artifactType") == COSIGN_SIG_TYPE]
        tagged = registry_get(server, f"{repo}/manifests/{sig_tag(digest)}")
        if signed and tagged.status_code == 200:
            assert tagged.headers["Docker-Content-Digest"] in {m["digest"] for m in signed}
            return tagged.content
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no signature of {repo}@{digest} within {within}s: referrers "
                f"{referrers.status_code} {listed}, tag {tagged.status_code}"
            )
        time.sleep(0.1)


# --- the containers tools' signature checks --------------------------------------------

DEBIAN_CUT = b"Debian-local change: sigstore disabled"


@functools.cache
def sigstore_missing(tool: str) -> str:
    """Why tool cannot sign or verify sigstore signatures ("" when it can). Debian 12 builds
    skopeo 1.9.3 and podman 4.3.1 with sigstore cut out: every sigstore signing or
    policy check fails with that message, which the binary carries."""
    path = shutil.which(tool)
    if path is None:
        return f"{tool} is not installed"
    if DEBIAN_CUT in Path(path).read_bytes():
        return f"this {tool} is built without sigstore ({DEBIAN_CUT.decode()!r})"
    return ""


@dataclass
class ClientTrust:
    """A policy.json requiring sigstore signatures by one key for a Berth project, and a
    registries.d (also as $HOME/.config/containers/registries.d, which podman reads) that
    makes the tools read and write signatures as sigstore attachments at Berth."""

    policy: Path
    registries_d: Path
    home: Path

    def skopeo_flags(self) -> list[str]:
        return ["--policy", str(self.policy), "--registries.d", str(self.registries_d)]

    def podman_env(self, env: dict[str, str]) -> dict[str, str]:
        """podman 4.3 has no --registries.d: it reads $HOME/.config/containers/registries.d."""
        return {**env, "HOME": str(self.home)}

    def podman_flags(self) -> list[str]:
        return ["--signature-policy", str(self.policy)]


def client_trust(root: Path, host: str, scope: str, pem: str | None) -> ClientTrust:
    """Trust setup under root: images under scope (host/project) must carry a sigstore
    signature by pem's key; everything else is refused. pem None: no policy needed (the
    registries.d alone, for signing)."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    registries_d = home / ".config" / "containers" / "registries.d"
    registries_d.mkdir(parents=True)
    (registries_d / "berth.yaml").write_text(
        f"docker:\n  {host}:\n    use-sigstore-attachments: true\n"
    )
    key = root / "trusted.pem"
    key.write_text(pem or "")
    requirement = {
        "type": "sigstoreSigned",
        "keyPath": str(key),
        "signedIdentity": {"type": "matchRepository"},
    }
    policy = root / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {"docker": {scope: [requirement]}},
            }
        )
    )
    return ClientTrust(policy, registries_d, home)


def flip_signature(sig_manifest: bytes) -> bytes:
    """The .sig manifest with the last byte of each layer's signature changed: tampered."""
    manifest = json.loads(sig_manifest)
    for layer in manifest["layers"]:
        annotations = layer["annotations"]
        raw = bytearray(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]))
        raw[-1] ^= 0x01
        annotations["dev.cosignproject.cosign/signature"] = base64.b64encode(raw).decode()
    return json.dumps(manifest).encode()
