"""This Berth as one side of a replication: the source of a push-mode policy, the
destination of a pull-mode one. The same methods as core.remote.RemoteClient, so the copy
engine does not care which side is which — but straight on the registry's own services,
never over HTTP: reads come from the database and storage, and writes go through the paths
a client's push takes (the blob commit, the manifest PUT with its audit event, push job and
webhooks, the GC hold), so a replicated artifact is in every way a pushed one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from core import audit, events, project_settings
from core.digests import is_digest
from core.errors import BlobUnknown, ManifestUnknown, NameUnknown
from core.projects import project_name_exists, validate_project_name
from core.remote import BlobSource, RemoteError, RemoteManifest, RemoteNotFound, RemoteStopped
from core.replication_platforms import SparseRefused
from core.service import Registry
from core.uploads import Upload
from models import Project, fetch
from storage.keys import blob_key

_TAG_DIGESTS = (
    "SELECT t.name, m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id"
    " JOIN repository r ON r.id = t.repository_id WHERE r.name = ? ORDER BY t.name"
)
_REPOSITORIES = "SELECT name FROM repository ORDER BY name"
_HAS_MANIFEST = (  # by any digest the manifest is known by, as a HEAD answers it
    "SELECT d.digest FROM manifest_digest d JOIN repository r ON r.id = d.repository_id"
    " WHERE r.name = ? AND d.digest = ?"
)
_TAG_DIGEST = (
    "SELECT m.digest FROM tag t JOIN manifest m ON m.id = t.manifest_id"
    " JOIN repository r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?"
)
_SWITCHED_ON = (
    "SELECT 1 FROM project_metadata pm JOIN project p ON p.id = pm.project_id"
    " WHERE p.name = ? AND pm.name = ? AND pm.value = 'true'"
)
LOCAL_CHUNK = 8 << 20  # a local write from a stream that failed resumes from its last chunk
RESUMES = 5


class LocalRegistry:
    """Berth's own registry as a replication side. operator: who the writes are done as
    (the audit log's operator of a replicated push)."""

    local = True

    def __init__(self, registry: Registry, operator: str) -> None:
        self.registry = registry
        self.operator = operator
        self._known: set[str] = set()
        self._sparse: set[str] = set()  # projects known to take sparse indexes

    async def __aenter__(self) -> LocalRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def catalog(self) -> list[str]:
        return [str(name) for (name,) in await fetch(_REPOSITORIES)]

    async def tags(self, repository: str) -> list[str]:
        return list((await self.tag_digests(repository)).keys())

    async def tag_digests(self, repository: str) -> dict[str, str]:
        """Every tag of the repository and the digest it names, in one query."""
        return {str(t): str(d) for t, d in await fetch(_TAG_DIGESTS, repository)}

    async def get_manifest(self, repository: str, reference: str) -> RemoteManifest:
        try:
            stored = await self.registry.manifests.get(repository, reference)
        except (ManifestUnknown, NameUnknown) as exc:
            raise RemoteNotFound(str(exc), 404, "MANIFEST_UNKNOWN") from None
        return RemoteManifest(stored.digest, stored.media_type, stored.content)

    async def head_manifest(self, repository: str, reference: str) -> str | None:
        query = _HAS_MANIFEST if is_digest(reference) else _TAG_DIGEST
        rows = await fetch(query, repository, reference)
        return str(rows[0][0]) if rows else None

    async def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> str:
        project = await self._project(repository)
        pushed = await self.registry.manifests.put(
            repository, project, reference, body, media_type, self.operator
        )
        return pushed.digest

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        try:
            await self.registry.manifests.delete(repository, digest)
        except (ManifestUnknown, NameUnknown):
            return False
        return True

    async def blob_size(self, repository: str, digest: str) -> int | None:
        try:
            return (await self.registry.blobs.stat(repository, digest)).size
        except (BlobUnknown, NameUnknown):
            return None

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        project = await self._project(repository)
        return await self.registry.blobs.mount(repository, project, digest, from_repository)

    def read_blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[bytes]:
        algorithm, _, hex_digest = digest.partition(":")
        return self.registry.storage.read(blob_key(algorithm, hex_digest), offset)

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
        """The blob from source, checked against digest and published as an upload is.
        Small blobs in one pass; large ones (or chunk_size) through an upload session, so a
        source that fails mid-way is reopened at the session's offset, not from zero."""
        project = await self._project(repository)
        uploads = self.registry.uploads
        if chunk_size is None and size < LOCAL_CHUNK:
            await uploads.upload_whole(repository, project, digest, source(0), size)
            return size
        session = await uploads.start(repository, project)
        try:
            await self._append_all(session, size, source, should_stop)
            await uploads.commit(session, digest, project)
        except BaseException:
            with contextlib.suppress(Exception):
                await uploads.cancel(session)
            raise
        return size

    async def _append_all(
        self,
        session: Upload,
        size: int,
        source: BlobSource,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        """Append the source in LOCAL_CHUNK pieces; when the source fails, reopen it at the
        session's offset (what the database holds is the truth) up to RESUMES times."""
        uploads = self.registry.uploads
        failures = 0
        while session.offset < size:
            stream = _Pieces(source(session.offset))
            try:
                while session.offset < size:
                    if should_stop is not None and should_stop():
                        raise RemoteStopped("stopped")
                    piece = stream.take(min(LOCAL_CHUNK, size - session.offset))
                    await uploads.append(session, piece, session.offset)
            except RemoteStopped:
                raise
            except (RemoteError, OSError):
                failures += 1
                if failures > RESUMES:
                    raise
                session = await uploads.get(session.repository, session.id)
            finally:
                await stream.aclose()

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        try:
            return await self.registry.manifests.referrers(repository, digest, None)
        except NameUnknown:
            return []

    async def has_referrers_api(self, repository: str, digest: str) -> bool:
        return True

    async def ensure_project(
        self, name: str, *, sparse: bool = False, make_sparse: bool = False
    ) -> None:
        """The project, made when missing. sparse: it must take sparse indexes (made with
        sparse_index on; one that exists without it is SparseRefused); make_sparse: one
        made here is made so."""
        await self._project(name + "/", sparse or make_sparse)
        if not sparse or name in self._sparse:
            return
        if not await self.takes_sparse(name + "/"):
            raise SparseRefused(
                f"the project {name!r} here does not take sparse indexes (an index whose"
                ' children are not all there): set its metadata sparse_index to "true"'
            )
        self._sparse.add(name)

    async def takes_sparse(self, repository: str) -> bool:
        """Whether the repository's project has sparse_index on (as a source: its indexes
        may name absent children, so their copies need a destination that takes them)."""
        project = repository.split("/", 1)[0]
        return bool(await fetch(_SWITCHED_ON, project, project_settings.SPARSE_INDEX))

    async def _project(self, repository: str, sparse: bool = False) -> str:
        """The repository's project, made (private, audited; with sparse_index on when
        sparse) when a pull-mode copy is the first to write into it."""
        project = repository.split("/", 1)[0]
        if project in self._known:
            return project
        if not await project_name_exists(project):
            validate_project_name(project)
            event = audit.Event(audit.CREATE, audit.PROJECT, project, project)
            event.description = "created by replication" + (", sparse_index on" if sparse else "")
            async with events.recorded(event) as tx:
                if not await Project.filter(name=project).using_db(tx).exists():
                    created = await Project.create(name=project, public=False, using_db=tx)
                    event.project_id = int(created.id)
                    if sparse:
                        setting = {project_settings.SPARSE_INDEX: "true"}
                        await project_settings.store(event.project_id, setting)
                await events.emit(tx, event)
        self._known.add(project)
        return project


class _Pieces:
    """One source stream cut into consecutive pieces of exact sizes."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._stream = stream
        self._rest = b""

    async def take(self, size: int) -> AsyncIterator[bytes]:
        while size > 0:
            if not self._rest:
                self._rest = await anext(self._stream, b"")
                if not self._rest:
                    raise RemoteError("the source ended before the blob's size", None, "")
            piece, self._rest = self._rest[:size], self._rest[size:]
            size -= len(piece)
            yield piece

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
