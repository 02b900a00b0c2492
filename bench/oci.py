"""A small OCI distribution client on http.client, for setup steps and small pushes.

http.client is used rather than httpx because its per-request cost is a few
tens of microseconds, so the load generator stays cheap next to the server.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StepFailed(Exception):
    """A registry answered a benchmark request with something other than success."""

    def __init__(self, what: str, method: str, url: str, status: int | str, body: str) -> None:
        super().__init__(f"{what}: {method} {url} -> {status} {body[:300]!r}")
        self.what = what
        self.method = method
        self.url = url
        self.status = status
        self.body = body[:300]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def path_of(base: str, location: str) -> str:
    """Turn a Location header (absolute or relative) into a request path with query."""
    parts = urlsplit(urljoin(base, location))
    return parts.path + ("?" + parts.query if parts.query else "")


def with_query(path: str, key: str, value: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{key}={value}"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def basic_header(auth: tuple[str, str]) -> dict[str, str]:
    """An Authorization: Basic header for (username, password)."""
    token = base64.b64encode(":".join(auth).encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RegistryClient:
    """One keep-alive connection to a registry at http://HOST:PORT.

    With `auth`, every request that writes (POST, PUT, PATCH, DELETE) carries Basic
    credentials; GETs and HEADs stay anonymous, as a public pull is.
    """

    def __init__(
        self, base: str, timeout: float = 120.0, auth: tuple[str, str] | None = None
    ) -> None:
        self.base = base.rstrip("/")
        netloc = urlsplit(self.base).netloc
        self.conn = http.client.HTTPConnection(netloc, timeout=timeout)
        self.auth_header = basic_header(auth) if auth else {}

    def close(self) -> None:
        self.conn.close()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        hdrs = {"Content-Length": str(len(body))} if method in ("POST", "PUT", "PATCH") else {}
        if method in WRITES:
            hdrs.update(self.auth_header)
        hdrs.update(headers or {})
        self.conn.request(method, path, body=body or None, headers=hdrs)
        resp = self.conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())

    def expect(
        self,
        what: str,
        method: str,
        path: str,
        ok: tuple[int, ...],
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Response:
        resp = self.request(method, path, body, headers)
        if resp.status not in ok:
            text = resp.body.decode("utf-8", "replace")
            raise StepFailed(what, method, self.base + path, resp.status, text)
        return resp

    def start_upload(self, name: str) -> str:
        """POST an upload session; return the path of its Location."""
        resp = self.expect("start upload", "POST", f"/v2/{name}/blobs/uploads/", (202,))
        location = resp.headers.get("Location")
        if not location:
            raise StepFailed("start upload", "POST", self.base, 202, "no Location header")
        return path_of(self.base + "/", location)

    def push_blob(self, name: str, data: bytes, digest: str | None = None) -> str:
        """POST then one PUT ?digest= with the whole body (the two-request monolithic push)."""
        digest = digest or sha256_digest(data)
        upload = self.start_upload(name)
        headers = {"Content-Type": "application/octet-stream"}
        put = with_query(upload, "digest", digest)
        self.expect("push blob", "PUT", put, (201,), body=data, headers=headers)
        return digest

    def push_manifest(self, name: str, ref: str, manifest: bytes) -> None:
        headers = {"Content-Type": OCI_MANIFEST}
        path = f"/v2/{name}/manifests/{ref}"
        self.expect("push manifest", "PUT", path, (201,), body=manifest, headers=headers)

    def get(self, what: str, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.expect(what, "GET", path, (200,), headers=headers)


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def config_blob(label: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"bench": label}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return json.dumps(config, separators=(",", ":")).encode()
