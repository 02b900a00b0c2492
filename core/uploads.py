"""Upload sessions: start, append, commit. Bytes stream to storage, hashed as they arrive."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core import quotas
from core.blobs import BlobStore
from core.digests import Hasher, parse_digest
from core.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    ChunkOutOfOrder,
    DigestInvalid,
    SizeInvalid,
)
from core.projects import project_for_push, repository_for_push
from models import UploadSession, fetch
from storage import StorageDriver, StorageKeyMissing
from storage.keys import UPLOADS, upload_key

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Upload:
    """An upload session: its id, repository and how many bytes it holds so far."""

    id: str
    repository: str
    offset: int = 0


@dataclass(slots=True)
class _HashState:
    offset: int
    hasher: Hasher


_SESSION_OFFSET = 'SELECT "offset" FROM upload_session WHERE id = ? AND repository = ?'


class UploadService:
    """The upload protocol over storage. Any process can take the next chunk of any session:
    the database holds the offset. A process keeps the running sha256 of the sessions whose
    every chunk it served; when another process took a chunk in between, the hash is computed
    once, in one pass, at commit - never re-read per chunk.
    """

    def __init__(self, storage: StorageDriver, blobs: BlobStore, flush_every: int) -> None:
        self.storage = storage
        self.blobs = blobs
        self.flush_every = flush_every
        self._hashes: dict[str, _HashState] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str, project: str) -> Upload:
        """A new, empty session; its file is made by the first chunk."""
        await project_for_push(repository, project)
        session = Upload(str(uuid.uuid4()), repository)
        await UploadSession.create(id=session.id, repository=repository)
        self._hashes[session.id] = _HashState(0, hashlib.sha256())
        return session

    async def get(self, repository: str, session_id: str) -> Upload:
        rows = await fetch(_SESSION_OFFSET, session_id, repository)
        if not rows:
            raise BlobUploadUnknown(session_id)
        return Upload(session_id, repository, int(rows[0][0]))  # type: ignore[call-overload]

    async def upload_whole(
        self,
        repository: str,
        project: str,
        digest: str,
        body: AsyncIterable[bytes],
        length: int | None,
    ) -> str:
        """A monolithic upload (POST ?digest=): no session row, the bytes go straight through."""
        expected = parse_digest(digest)
        project_id = await project_for_push(repository, project)
        if length is not None:  # refused before a byte is stored
            await quotas.precheck(project_id, length, digest)
        key = upload_key(str(uuid.uuid4()))
        try:
            hasher = expected.hasher()
            size = await self._stream(key, 0, body, hasher, length)
            actual = f"{expected.algorithm}:{hasher.hexdigest()}"
            if actual != digest:
                raise DigestInvalid(f"content hashes to {actual}", digest)
            await self._publish(key, digest, size, repository, project)
        finally:
            await self.storage.delete(key)  # gone already once published
        return digest

    async def append(
        self,
        session: Upload,
        body: AsyncIterable[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Append a chunk; start (from Content-Range) must equal the current offset."""
        if start is not None and start != session.offset:
            raise ChunkOutOfOrder(
                f"chunk starts at {start}, upload is at {session.offset}", session.offset
            )
        if length:  # a chunk that alone would pass the limit is refused before it is stored
            project_id = await project_for_push(session.repository, _project_of(session))
            try:
                await quotas.precheck(project_id, session.offset + length)
            except quotas.QuotaExceeded:
                await self.cancel(session)
                raise
        async with self._lock(session.id):
            received = await self._stream_session(session, body, length)
            new_offset = session.offset + received
            updated = await UploadSession.filter(id=session.id, offset=session.offset).update(
                offset=new_offset, updated_at=datetime.now(UTC)
            )
            if not updated:
                self._forget(session.id)
                raise BlobUploadInvalid("another request appended to this upload at the same time")
            self._advance(session, new_offset)
            return new_offset

    async def commit(
        self,
        session: Upload,
        digest: str,
        project: str,
        body: AsyncIterable[bytes] | None = None,
        length: int | None = None,
    ) -> str:
        """Append the last chunk, check the digest, and publish the blob atomically.

        A wrong digest discards the whole upload (DigestInvalid), and so does a blob the
        project's quota has no room for (QuotaExceeded, before the blob is published).
        """
        expected = parse_digest(digest)
        project_id = await project_for_push(session.repository, project)
        async with self._lock(session.id):
            if body is not None:
                received = await self._stream_session(session, body, length)
                self._advance(session, session.offset + received)
            actual = await self._final_digest(session, expected.algorithm)
            if actual != str(expected):
                await self.cancel(session)
                raise DigestInvalid(f"content hashes to {actual}", digest)
            try:
                await quotas.precheck(project_id, session.offset, digest)
                await self._publish(
                    upload_key(session.id), digest, session.offset, session.repository, project
                )
            except quotas.QuotaExceeded:
                await self.cancel(session)
                raise
            await self.cancel(session)  # the session and its file: the blob has its own name
        return digest

    async def cancel(self, session: Upload) -> None:
        """Drop the session and its bytes. Safe to repeat."""
        await self.storage.delete(upload_key(session.id))
        await UploadSession.filter(id=session.id).delete()
        self._forget(session.id)

    async def purge_stale(self, max_age: timedelta) -> int:
        """Remove sessions untouched for max_age, and upload files with no session."""
        return await purge_abandoned(self.storage, max_age)

    async def _publish(
        self, key: str, digest: str, size: int, repository: str, project: str
    ) -> None:
        """Place verified bytes at their content address, then record and link the blob (the
        upload's own key is kept until then: a collection may delete the content address)."""
        repo_id = await repository_for_push(repository, project)
        if size == 0:
            await self.storage.write_all(key, b"")  # an empty upload may have made no file
        await self.storage.place(key, self.blobs.key(digest))
        await self.blobs.record(repo_id, digest, size, source=key)

    async def _stream_session(
        self, session: Upload, body: AsyncIterable[bytes], length: int | None
    ) -> int:
        state = self._hashes.get(session.id)
        if state is not None and state.offset != session.offset:
            state = None  # another process took a chunk: hash at commit instead
            self._forget(session.id)
        try:
            return await self._stream(
                upload_key(session.id),
                session.offset,
                body,
                state.hasher if state else None,
                length,
            )
        except BaseException:
            self._forget(session.id)  # the running hash saw bytes the offset does not count
            raise

    async def _stream(
        self,
        key: str,
        offset: int,
        body: AsyncIterable[bytes],
        hasher: Hasher | None,
        length: int | None,
    ) -> int:
        """Append body to key at offset, hashing as it goes; on any failure cut back to offset.

        Bytes past offset (a chunk cut short earlier) are dropped first. Flushes to disk every
        flush_every bytes so the final sync is short. Returns the bytes received.
        """
        try:
            appender = await self.storage.appender(key, create=offset == 0)
        except StorageKeyMissing:
            raise BlobUploadUnknown(key.rsplit("/", 1)[-1]) from None
        received = unflushed = 0
        try:
            if appender.size != offset:
                await appender.close()
                await self.storage.truncate(key, offset)
                appender = await self.storage.appender(key, create=False)
            async for data in body:
                received += len(data)
                if length is not None and received > length:
                    raise SizeInvalid(f"body is longer than the declared {length} bytes")
                if hasher is not None:
                    hasher.update(data)
                await appender.write(data)
                unflushed += len(data)
                if unflushed >= self.flush_every:
                    await appender.flush()
                    unflushed = 0
            if length is not None and received != length:
                raise SizeInvalid(f"received {received} bytes, Content-Length said {length}")
            await appender.flush()
        except BaseException:
            await appender.close()
            await self.storage.truncate(key, offset)
            raise
        await appender.close()
        return received

    def _advance(self, session: Upload, new_offset: int) -> None:
        session.offset = new_offset
        state = self._hashes.get(session.id)
        if state is not None:
            state.offset = new_offset

    async def _final_digest(self, session: Upload, algorithm: str) -> str:
        state = self._hashes.get(session.id)
        if algorithm == "sha256" and state is not None and state.offset == session.offset:
            return f"sha256:{state.hasher.hexdigest()}"
        hasher = hashlib.new(algorithm)
        if session.offset == 0:
            return f"{algorithm}:{hasher.hexdigest()}"  # an empty blob: no file was made
        async for data in self.storage.read(upload_key(session.id), 0, session.offset):
            await asyncio.to_thread(hasher.update, data)  # hashlib releases the GIL
        return f"{algorithm}:{hasher.hexdigest()}"

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    def _forget(self, session_id: str) -> None:
        self._hashes.pop(session_id, None)
        self._locks.pop(session_id, None)


def _project_of(session: Upload) -> str:
    return session.repository.split("/", 1)[0]


async def purge_abandoned(storage: StorageDriver, max_age: timedelta, dry_run: bool = False) -> int:
    """Remove upload sessions untouched for max_age and upload files with no session older
    than that; how many (dry_run: how many would go). Safe to repeat."""
    cutoff = datetime.now(UTC) - max_age
    stale = await UploadSession.filter(updated_at__lt=cutoff).values_list("id", flat=True)
    live = set(await UploadSession.all().values_list("id", flat=True)) - set(stale)
    removed = 0
    async for key, _size, mtime in storage.list(UPLOADS):
        name = key.rsplit("/", 1)[-1]
        if name in live or (name not in stale and mtime >= cutoff.timestamp()):
            continue
        if not dry_run:
            await storage.delete(key)
        removed += name not in stale  # a stale session is counted once, below
    if not dry_run and stale:
        await UploadSession.filter(id__in=list(stale)).delete()
    return removed + len(stale)
