"""Upload sessions: start, append, commit. Bytes stream to storage, hashed as they arrive."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
from models import UploadSession
from storage import StorageDriver, StorageKeyMissing
from storage.keys import UPLOADS, upload_key

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _HashState:
    offset: int
    hasher: Hasher


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

    async def start(self, repository: str, project: str) -> UploadSession:
        await project_for_push(repository, project)
        session = await UploadSession.create(id=str(uuid.uuid4()), repository=repository)
        appender = await self.storage.appender(upload_key(session.id), create=True)
        await appender.close()
        self._hashes[session.id] = _HashState(0, hashlib.sha256())
        return session

    async def get(self, repository: str, session_id: str) -> UploadSession:
        session = await UploadSession.get_or_none(id=session_id, repository=repository)
        if session is None:
            raise BlobUploadUnknown(session_id)
        return session

    async def append(
        self,
        session: UploadSession,
        body: AsyncIterable[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Append a chunk; start (from Content-Range) must equal the current offset."""
        if start is not None and start != session.offset:
            raise ChunkOutOfOrder(
                f"chunk starts at {start}, upload is at {session.offset}", session.offset
            )
        async with self._lock(session.id):
            return await self._append(session, body, length)

    async def commit(
        self,
        session: UploadSession,
        digest: str,
        project: str,
        body: AsyncIterable[bytes] | None = None,
        length: int | None = None,
    ) -> str:
        """Append the last chunk, check the digest, and publish the blob atomically.

        A wrong digest discards the whole upload (DigestInvalid).
        """
        expected = parse_digest(digest)
        if body is not None:
            await self.append(session, body, None, length)
        async with self._lock(session.id):
            actual = await self._final_digest(session, expected.algorithm)
            if actual != str(expected):
                await self.cancel(session)
                raise DigestInvalid(f"content hashes to {actual}", digest)
            repo = await repository_for_push(session.repository, project)
            await self.storage.commit(upload_key(session.id), self.blobs.key(digest))
            await self.blobs.record(repo, digest, session.offset)
            await session.delete()
            self._forget(session.id)
        return digest

    async def cancel(self, session: UploadSession) -> None:
        """Drop the session and its bytes. Safe to repeat."""
        await self.storage.delete(upload_key(session.id))
        await UploadSession.filter(id=session.id).delete()
        self._forget(session.id)

    async def purge_stale(self, max_age: timedelta) -> int:
        """Remove sessions untouched for max_age, and upload files with no session."""
        cutoff = datetime.now(UTC) - max_age
        stale = await UploadSession.filter(updated_at__lt=cutoff)
        for session in stale:
            await self.cancel(session)
        live = set(await UploadSession.all().values_list("id", flat=True))
        orphans = 0
        async for key, _size, mtime in self.storage.list(UPLOADS):
            if key.rsplit("/", 1)[-1] not in live and mtime < cutoff.timestamp():
                await self.storage.delete(key)
                orphans += 1
        return len(stale) + orphans

    async def _append(
        self, session: UploadSession, body: AsyncIterable[bytes], length: int | None
    ) -> int:
        key = upload_key(session.id)
        state = self._hashes.get(session.id)
        if state is not None and state.offset != session.offset:
            state = None  # another process took a chunk: hash at commit instead
            self._forget(session.id)
        try:
            appender = await self.storage.appender(key, create=False)
        except StorageKeyMissing:
            raise BlobUploadUnknown(session.id) from None
        received = 0
        unflushed = 0
        try:
            if appender.size != session.offset:  # a chunk cut short earlier left extra bytes
                await self.storage.truncate(key, session.offset)
                await appender.close()
                appender = await self.storage.appender(key, create=False)
            async for data in body:
                if length is not None and received + len(data) > length:
                    raise SizeInvalid(f"body is longer than the declared {length} bytes")
                if state is not None:
                    state.hasher.update(data)
                await appender.write(data)
                received += len(data)
                unflushed += len(data)
                if unflushed >= self.flush_every:
                    await appender.flush()
                    unflushed = 0
            if length is not None and received != length:
                raise SizeInvalid(f"received {received} bytes, Content-Length said {length}")
            await appender.flush()
        except BaseException:
            self._forget(session.id)  # the running hash saw bytes the offset does not count
            await appender.close()
            await self.storage.truncate(key, session.offset)
            raise
        await appender.close()
        new_offset = session.offset + received
        updated = await UploadSession.filter(id=session.id, offset=session.offset).update(
            offset=new_offset, updated_at=datetime.now(UTC)
        )
        if not updated:
            self._forget(session.id)
            raise BlobUploadInvalid("another request appended to this upload at the same time")
        session.offset = new_offset
        if state is not None:
            state.offset = new_offset
        return new_offset

    async def _final_digest(self, session: UploadSession, algorithm: str) -> str:
        state = self._hashes.get(session.id)
        if algorithm == "sha256" and state is not None and state.offset == session.offset:
            return f"sha256:{state.hasher.hexdigest()}"
        hasher = hashlib.new(algorithm)
        async for data in self.storage.read(upload_key(session.id), 0, session.offset):
            await asyncio.to_thread(hasher.update, data)  # hashlib releases the GIL
        return f"{algorithm}:{hasher.hexdigest()}"

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    def _forget(self, session_id: str) -> None:
        self._hashes.pop(session_id, None)
        self._locks.pop(session_id, None)
