"""The client of another registry (Berth, Harbor, Distribution, any OCI registry), as the
replication engine uses it: catalog and tags, manifests, blobs (streamed, resumable),
referrers, and Harbor's projects.

Transport matters (auth, retries, the rate limit) live in core/remote_http.py, the errors
in core/remote_errors.py, pacing in core/remote_pace.py, writing a blob in
core/remote_upload.py. Everything here is one request or a short sequence of them, and
raises the RemoteError kinds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from core.remote_errors import (
    RemoteError,
    RemoteNotFound,
    RemoteStopped,
    RemoteUnauthorized,
    RemoteUnavailable,
    read_limited,
    release,
    transport_failure,
)
from core.remote_http import STALL_SECONDS, Endpoint, Log, Transport
from core.remote_pace import Throttle
from core.remote_upload import CHUNK_THRESHOLD, DEFAULT_CHUNK, BlobSource, BlobWriter
from core.replication_platforms import SparseRefused

__all__ = [
    "CHUNK_THRESHOLD",
    "DEFAULT_CHUNK",
    "BlobSource",
    "Endpoint",
    "RemoteClient",
    "RemoteError",
    "RemoteManifest",
    "RemoteNotFound",
    "RemoteStopped",
    "RemoteUnauthorized",
    "RemoteUnavailable",
]

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
SIGNED_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_LIST_BYTES = 64 * 1024 * 1024  # one page of a catalog, tag or referrer list
PAGE_SIZE = 1000
MAX_PAGES = 100_000  # a remote whose Link never ends is not followed forever


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    digest: str
    media_type: str
    body: bytes


class RemoteClient:
    """One remote registry. Safe to share between the coroutines of one event loop: they
    share its connections, tokens and rate limit. Use as `async with RemoteClient(...)`."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retries: int = 6,
        stall: float = STALL_SECONDS,
        log: Log | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.http = Transport(endpoint, retries=retries, stall=stall, log=log)

    async def __aenter__(self) -> RemoteClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def ping(self) -> None:
        """GET /v2/ with our credentials; RemoteUnauthorized when they are refused."""
        response = await self.http.send("GET", self.http.url("/v2/"))
        if response.status_code != 200:
            raise await self.http.fail(response)
        await release(response)

    async def catalog(self, *, page_size: int = PAGE_SIZE) -> list[str]:
        """Every repository of the remote, following the catalog's pages."""
        return await self._paged("/v2/_catalog", "repositories", "registry:catalog:*", page_size)

    async def tags(self, repository: str, *, page_size: int = PAGE_SIZE) -> list[str]:
        """Every tag of a repository (all pages); [] for a repository with none or none at all."""
        try:
            return await self._paged(
                f"/v2/{repository}/tags/list", "tags", _pull(repository), page_size
            )
        except RemoteNotFound:
            return []

    async def get_manifest(self, repository: str, reference: str) -> RemoteManifest:
        """The manifest of a tag or digest, in any OCI or Docker type; RemoteNotFound."""
        url = self.http.url(f"/v2/{repository}/manifests/{reference}")
        response = await self.http.send("GET", url, scope=_pull(repository), headers=_accept())
        if response.status_code != 200:
            raise await self.http.fail(response)
        body = await _read_bounded(response, MAX_MANIFEST_BYTES, "manifest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        media_type = _media_type(response, body)
        signed = media_type == SIGNED_SCHEMA1  # its digest leaves the signatures out
        if reference.startswith("sha256:") and reference != digest and not signed:
            raise RemoteError(f"the manifest {reference} from {url} hashes to {digest}")
        stated = response.headers.get("docker-content-digest", "")
        if reference.startswith("sha256:"):
            stated = reference
        elif not stated.startswith("sha256:"):
            stated = digest
        return RemoteManifest(stated, media_type, body)

    async def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest of a tag or digest at the remote, None when it has no such manifest."""
        url = self.http.url(f"/v2/{repository}/manifests/{reference}")
        response = await self.http.send("HEAD", url, scope=_pull(repository), headers=_accept())
        await release(response)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise await self.http.fail(response)
        digest = response.headers.get("docker-content-digest", "")
        if digest:
            return digest
        return (await self.get_manifest(repository, reference)).digest

    async def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> str:
        """Store a manifest under a tag or its digest; the digest the remote gives it."""
        url = self.http.url(f"/v2/{repository}/manifests/{reference}")
        response = await self.http.send(
            "PUT",
            url,
            scope=_push(repository),
            headers={"Content-Type": media_type},
            body=lambda: body,
        )
        if response.status_code not in (200, 201, 202):
            raise await self.http.fail(response)
        await release(response)
        return response.headers.get("docker-content-digest") or (
            "sha256:" + hashlib.sha256(body).hexdigest()
        )

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest; False when the remote had none."""
        url = self.http.url(f"/v2/{repository}/manifests/{digest}")
        response = await self.http.send("DELETE", url, scope=f"repository:{repository}:delete")
        await release(response)
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202, 204):
            raise await self.http.fail(response)
        return True

    async def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob at the remote (HEAD), None when it is not there."""
        url = self.http.url(f"/v2/{repository}/blobs/{digest}")
        response = await self.http.send("HEAD", url, scope=_pull(repository), follow=True)
        await release(response)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise await self.http.fail(response)
        return int(response.headers.get("content-length", "0"))

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Link a blob from another repository of the remote: True when mounted (201); on
        a 202 (the remote would rather have an upload) that upload is cancelled: False."""
        url = self.http.url(f"/v2/{repository}/blobs/uploads/")
        response = await self.http.send(
            "POST",
            url,
            scope=f"{_push(repository)} {_pull(from_repository)}",
            params={"mount": digest, "from": from_repository},
            body=lambda: b"",
        )
        await release(response)
        if response.status_code == 201:
            return True
        if response.status_code != 202:
            raise await self.http.fail(response)
        location = response.headers.get("location")
        if location:
            await self._cancel_upload(repository, response.request.url.join(location))
        return False

    async def _cancel_upload(self, repository: str, location: httpx.URL) -> None:
        """Best effort: an upload left behind expires at the remote anyway."""
        try:
            cancel = await self.http.send("DELETE", location, scope=_push(repository))
            await release(cancel)
        except RemoteUnavailable as exc:
            self.http.log(f"could not cancel an unused upload at {location.host}: {exc}")

    async def read_blob(
        self, repository: str, digest: str, offset: int = 0, *, speed: int = 0
    ) -> AsyncIterator[bytes]:
        """The blob's bytes from offset on, streamed (Range: bytes=offset- past 0). A drop
        or stall mid-way is resumed from the byte reached (retries per drop); speed caps
        the rate in KiB/s (0: none)."""
        position, failures, throttle = offset, 0, Throttle(speed)
        url = self.http.url(f"/v2/{repository}/blobs/{digest}")
        while True:
            headers = {"Range": f"bytes={position}-"} if position else {}
            response = await self.http.send(
                "GET", url, scope=_pull(repository), headers=headers, follow=True
            )
            if response.status_code not in (200, 206):
                raise await self.http.fail(response)
            skip = position if response.status_code == 200 else 0  # Range not honoured
            reached = position
            try:
                async for data in response.aiter_bytes():
                    if skip:
                        data, skip = data[skip:], max(0, skip - len(data))
                    if data:
                        await throttle.take(len(data))
                        position += len(data)
                        yield data
                return
            except httpx.TransportError as exc:
                error = transport_failure(exc, url, self.http.stall)
            finally:
                await release(response)
            failures = 0 if position > reached else failures
            if failures >= self.http.retries:
                raise error
            await self.http.pause(failures, error)
            failures += 1

    async def write_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        source: BlobSource,
        *,
        chunk_size: int | None = None,
        speed: int = 0,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Upload a blob from source(offset); the bytes actually sent (resumes included).
        Chunked when chunk_size is given or the blob is CHUNK_THRESHOLD or larger, else
        monolithic (core/remote_upload.py). RemoteStopped when should_stop says so."""
        writer = BlobWriter(self.http, repository, digest, size, source, speed, should_stop)
        if chunk_size is None and size < CHUNK_THRESHOLD:
            return await writer.monolithic()
        return await writer.chunked(chunk_size or DEFAULT_CHUNK)

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The OCI referrers API's descriptors of digest (all pages); [] when the remote has
        no referrers API (404, or an answer that is not an image index)."""
        url = self.http.url(f"/v2/{repository}/referrers/{digest}")
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = await self.http.send("GET", url, scope=_pull(repository))
            if response.status_code in (400, 404, 405):
                await release(response)
                return found
            if response.status_code != 200:
                raise await self.http.fail(response)
            page = _json(await _read_bounded(response, MAX_LIST_BYTES, "referrers list"))
            manifests = page.get("manifests") if isinstance(page, dict) else None
            if not isinstance(manifests, list):
                return found
            found += [m for m in manifests if isinstance(m, dict)]
            following = _next_link(response)
            if following is None:
                return found
            url = str(following)
        return found

    async def has_referrers_api(self, repository: str, digest: str) -> bool:
        """Whether the remote answers the OCI referrers API (an image index, even empty, for
        any digest). Without it (Distribution 2.x) clients find referrers by the fallback
        tag sha256-<hex>, which the one who pushes a referrer must keep."""
        url = self.http.url(f"/v2/{repository}/referrers/{digest}")
        response = await self.http.send("GET", url, scope=_pull(repository))
        try:
            if response.status_code != 200:
                return False
            page = _json(await _read_bounded(response, MAX_LIST_BYTES, "referrers list"))
        except RemoteError:
            return False
        finally:
            await release(response)
        return isinstance(page, dict) and isinstance(page.get("manifests"), list)

    async def ensure_project(
        self, name: str, *, sparse: bool = False, make_sparse: bool = False
    ) -> None:
        """Harbor (and Berth): create the project unless it exists. Basic credentials, as
        Harbor's API takes them. sparse: the project must take image indexes whose children
        are not all there (Berth's project setting sparse_index): one made here is made so,
        one that exists without it is SparseRefused. make_sparse: one made here is made so."""
        projects = self.http.url("/api/v2.0/projects")
        basic = {"Authorization": auth} if (auth := self.http.basic()) else {}
        found = await self._api("HEAD", projects, basic, params={"project_name": name})
        if found.status_code == 200:
            if sparse:
                await self._require_sparse(name, basic)
            return
        if found.status_code != 404:
            raise await self.http.fail(found)
        wanted = sparse or make_sparse
        metadata = {"public": "false", **({"sparse_index": "true"} if wanted else {})}
        payload = json.dumps({"project_name": name, "metadata": metadata}).encode()
        created = await self._api(
            "POST", projects, {**basic, "Content-Type": "application/json"}, payload
        )
        if created.status_code not in (200, 201, 409):  # 409: made meanwhile by another
            raise await self.http.fail(created)
        if sparse and created.status_code == 409:
            await self._require_sparse(name, basic)

    async def _require_sparse(self, name: str, basic: dict[str, str]) -> None:
        """SparseRefused unless the project's metadata has sparse_index "true"."""
        url = self.http.url(f"/api/v2.0/projects/{quote(name, safe='')}")
        headers = {**basic, "X-Is-Resource-Name": "true", "Accept": "application/json"}
        response = await self.http.send("GET", url, headers=headers, authenticate=False)
        try:
            if response.status_code != 200:
                raise await self.http.fail(response)
            project = _json(await _read_bounded(response, MAX_LIST_BYTES, "project"))
        finally:
            await release(response)
        metadata = project.get("metadata") if isinstance(project, dict) else None
        if not isinstance(metadata, dict) or metadata.get("sparse_index") != "true":
            raise SparseRefused(
                f"the project {name!r} at the destination does not take sparse indexes (an"
                " index whose children are not all there): set its metadata sparse_index to"
                ' "true" there'
            )

    async def _api(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        payload: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await self.http.send(
            method, url, headers=headers, body=lambda: payload, params=params, authenticate=False
        )
        if response.status_code in (200, 201, 404, 409):
            await release(response)
        return response

    async def _paged(self, path: str, key: str, scope: str, page_size: int) -> list[str]:
        """The names under key of every page of a list, following Link rel="next"."""
        url: str | httpx.URL = self.http.url(path)
        params: dict[str, str] | None = {"n": str(page_size)}
        names: list[str] = []
        for _ in range(MAX_PAGES):
            response = await self.http.send("GET", url, scope=scope, params=params)
            if response.status_code != 200:
                raise await self.http.fail(response)
            page = _json(await _read_bounded(response, MAX_LIST_BYTES, key))
            values = page.get(key) if isinstance(page, dict) else None
            names += [str(v) for v in values or []]
            following = _next_link(response)
            if following is None:
                return names
            url, params = following, None
        return names


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _accept() -> dict[str, str]:
    return {"Accept": ACCEPT}


async def _read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    body = await read_limited(response, limit + 1)
    if len(body) > limit:
        raise RemoteError(f"the {what} from {response.request.url} is larger than {limit} bytes")
    return body


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _media_type(response: httpx.Response, body: bytes) -> str:
    """The Content-Type of a manifest answer, else the mediaType its body declares."""
    stated = response.headers.get("content-type", "").split(";")[0].strip()
    if stated and stated not in ("application/json", "text/plain", "application/octet-stream"):
        return stated
    parsed = _json(body)
    declared = parsed.get("mediaType") if isinstance(parsed, dict) else None
    return str(declared) if declared else stated


def _next_link(response: httpx.Response) -> httpx.URL | None:
    """The URL of Link rel="next", resolved against the request; None on the last page."""
    following = response.links.get("next", {}).get("url")
    if not following:
        return None
    resolved = response.request.url.join(following)
    return None if resolved == response.request.url else resolved
