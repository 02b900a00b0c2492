"""OCI content builders and a thin Distribution API client, shared by the conformance tests.

Manifests are encoded with indentation and a trailing newline on purpose: a registry that
re-serialises what it stores would hand back different bytes, and the tests would notice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import ADMIN

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MIB = 1024 * 1024


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def unique(prefix: str = "conf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=3).encode() + b"\n"


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str = OCI_LAYER

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


EMPTY_CONFIG = Blob(b"{}", OCI_EMPTY)


def random_layer(size: int = 256, media_type: str = OCI_LAYER) -> Blob:
    return Blob(os.urandom(size), media_type)


def random_config(media_type: str = OCI_CONFIG) -> Blob:
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    config["id"] = uuid.uuid4().hex  # distinct bytes, so each image has its own digest
    return Blob(json.dumps(config).encode(), media_type)


@dataclass(frozen=True)
class Manifest:
    """A manifest's bytes plus everything that must be in the repository before it is pushed."""

    body: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()
    children: tuple[Manifest, ...] = ()
    document: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def digest(self) -> str:
        return digest_of(self.body)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body)}


def image_manifest(
    config: Blob | None = None,
    layers: Sequence[Blob] | None = None,
    *,
    media_type: str = OCI_MANIFEST,
    artifact_type: str | None = None,
    subject: Manifest | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    config = config or random_config()
    layers = [random_layer()] if layers is None else list(layers)
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = config.descriptor()
    document["layers"] = [layer.descriptor() for layer in layers]
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations:
        document["annotations"] = annotations
    return Manifest(encode(document), media_type, (config, *layers), (), document)


def artifact_manifest(
    subject: Manifest | None = None,
    artifact_type: str = "application/vnd.example.sbom.v1",
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """An artifact in the image-spec 1.1 style: artifactType, the empty config, one blob."""
    blob = Blob(os.urandom(64), "application/vnd.example.data")
    return image_manifest(
        EMPTY_CONFIG, [blob], artifact_type=artifact_type, subject=subject, annotations=annotations
    )


def padded_manifest(size: int) -> Manifest:
    """An image manifest whose encoding is exactly `size` bytes, padded with an annotation."""
    base = image_manifest(annotations={"org.example.padding": ""})
    document = base.document
    document["annotations"]["org.example.padding"] = "x" * (size - len(base.body))
    body = encode(document)
    assert len(body) == size
    return Manifest(body, base.media_type, base.blobs, (), document)


def image_index(
    manifests: Sequence[Manifest], *, media_type: str = OCI_INDEX, subject: Manifest | None = None
) -> Manifest:
    entries = []
    for child in manifests:
        entry = child.descriptor()
        entry["platform"] = {"architecture": "amd64", "os": "linux"}
        entries.append(entry)
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if subject is not None:
        document["subject"] = subject.descriptor()
    return Manifest(encode(document), media_type, (), tuple(manifests), document)


def docker_manifest() -> Manifest:
    layer = random_layer(media_type=DOCKER_LAYER)
    return image_manifest(random_config(DOCKER_CONFIG), [layer], media_type=DOCKER_MANIFEST)


def sample_manifest(kind: str) -> Manifest:
    """One manifest of each kind a registry must store and serve unchanged."""
    builders = {
        "oci-image": lambda: image_manifest(),
        "oci-index": lambda: image_index([image_manifest(), image_manifest()]),
        "docker-schema2": docker_manifest,
        "docker-manifest-list": lambda: image_index([docker_manifest()], media_type=DOCKER_LIST),
        "artifact": lambda: artifact_manifest(),
        "artifact-with-subject": lambda: artifact_manifest(subject=image_manifest()),
    }
    return builders[kind]()


MANIFEST_KINDS = [
    "oci-image",
    "oci-index",
    "docker-schema2",
    "docker-manifest-list",
    "artifact",
    "artifact-with-subject",
]


def with_digest(location: str, digest: str) -> httpx.URL:
    """The upload location with `digest` added, keeping the query parameters it already carries."""
    return httpx.URL(location).copy_merge_params({"digest": digest})


def send_truncated(
    url: httpx.URL, method: str, headers: dict[str, str], body: bytes, sent: int
) -> None:
    """Announce `body` in full, send its first `sent` bytes, then hang up like a dying client."""
    lines = [f"{method} {url.raw_path.decode()} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    token = base64.b64encode(":".join(ADMIN).encode()).decode()
    lines += [f"Authorization: Basic {token}"]
    lines += ["Content-Type: application/octet-stream", f"Content-Length: {len(body)}", "", ""]
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + body[:sent])


def error_codes(response: httpx.Response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


class Registry:
    """The Distribution API calls the tests repeat, with the status checks of the happy path."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def start_upload(self, repo: str) -> str:
        response = self.http.post(f"/v2/{repo}/blobs/uploads/", content=b"")
        assert response.status_code == 202, response.text
        return response.headers["Location"]

    def finish_upload(self, location: str, data: bytes, digest: str) -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream"}
        return self.http.put(with_digest(location, digest), content=data, headers=headers)

    def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        digest = digest_of(data, algorithm)
        response = self.finish_upload(self.start_upload(repo), data, digest)
        assert response.status_code == 201, response.text
        return digest

    def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> httpx.Response:
        headers = {"Content-Type": manifest.media_type}
        return self.http.put(
            f"/v2/{repo}/manifests/{reference}", content=manifest.body, headers=headers
        )

    def push(self, repo: str, manifest: Manifest, reference: str | None = None) -> httpx.Response:
        """Push a manifest with its blobs and child manifests; by digest unless a tag is given."""
        self.push_dependencies(repo, manifest)
        response = self.put_manifest(repo, reference or manifest.digest, manifest)
        assert response.status_code == 201, response.text
        return response

    def push_dependencies(self, repo: str, manifest: Manifest) -> None:
        """Push what the manifest names (blobs, child manifests), but not the manifest itself."""
        for blob in manifest.blobs:
            self.push_blob(repo, blob.data)
        for child in manifest.children:
            self.push(repo, child)

    def push_image(self, repo: str, tag: str | None = None) -> Manifest:
        manifest = image_manifest()
        self.push(repo, manifest, tag)
        return manifest
