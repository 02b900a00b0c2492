"""S3 storage driver (aiobotocore): keys are objects in one bucket.

A value written whole (write_all, place) is one plain object. A value being appended to (an
upload) lives in the store only, so any node can continue it: the object at its key holds
the buffered tail (< PART bytes) and its logical size in metadata, and the bytes before the
tail are numbered PART-sized objects under PARTS/<key>/. `place` composes those parts into
the destination by server-side copy (one multipart upload, completed atomically), so the
destination appears whole or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiobotocore.session import AioSession, get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.base import StorageKeyMissing, StorageUnavailable
from storage.config import S3Config

PART = 5 * 1024 * 1024  # S3's smallest part but the last: every stored part is this size
PARTS = ".berth-parts"  # the folder of appended values' parts (refused as a key's own start)
SIZE = "berth-size"  # metadata on an appended value: its logical size
READ_PIECE = 1024 * 1024
COPY_LIMIT = 5 * 1024**3  # CopyObject's largest source; beyond it, a multipart copy
COPY_PART = 512 * 1024**2  # ranges of a multipart copy of one large object
DELETE_BATCH = 1000  # DeleteObjects' largest batch
PARALLEL_COPIES = 8
_MISSING = {"NoSuchKey", "404", "NotFound"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}


@dataclass
class _State:
    """An appended value as stored: the parts before the tail, the tail, the logical size."""

    parts: int
    tail: bytes

    @property
    def size(self) -> int:
        return self.parts * PART + len(self.tail)


class S3Appender:
    """Buffers the tail in memory; every full PART goes up as a part object at once, and
    flush/close store the tail and size in the key's object (one PUT, atomic)."""

    def __init__(self, driver: S3Driver, key: str, state: _State, stored: bool) -> None:
        self._driver = driver
        self._key = key
        self._parts = state.parts
        self._buffer = bytearray(state.tail)
        self._stored = stored  # whether the key's object says what this handle holds

    @property
    def size(self) -> int:
        return self._parts * PART + len(self._buffer)

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self._stored = self._stored and not data
        while len(self._buffer) >= PART:
            await self._driver._put(_part_key(self._key, self._parts), bytes(self._buffer[:PART]))
            self._parts += 1
            del self._buffer[:PART]

    async def flush(self) -> None:
        if not self._stored:
            await self._driver._put_state(self._key, _State(self._parts, bytes(self._buffer)))
            self._stored = True

    async def close(self) -> None:
        await self.flush()  # another node continues from what is stored


class S3Driver:
    """Byte storage in one S3 bucket; every error of the store is a StorageUnavailable that
    names what to fix (the key, the bucket, the endpoint)."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self.copy_limit = COPY_LIMIT  # attributes, so a test can copy in parts without 5 GiB
        self.copy_part = COPY_PART
        self._session: AioSession = get_session()
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Any, contextlib.AsyncExitStack]] = {}

    # ---- the Protocol ------------------------------------------------------------------

    async def stat(self, key: str) -> int:
        head = await self._head(_checked(key))
        return _logical_size(head)

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        if length == 0:
            return
        head = await self._head(_checked(key))
        size = _logical_size(head)
        end = size if length is None else min(size, offset + length)
        tail_start = size - int(head["ContentLength"])
        while offset < end:
            if offset < tail_start:
                index, within = divmod(offset, PART)
                source, start, stop = (
                    _part_key(key, index),
                    within,
                    min(PART, end - offset + within),
                )
            else:
                source, start, stop = key, offset - tail_start, end - tail_start
            async for piece in self._get(source, start, stop):
                offset += len(piece)
                yield piece

    async def read_all(self, key: str) -> bytes:
        return b"".join([piece async for piece in self.read(key)])

    async def write_all(self, key: str, data: bytes) -> None:
        await self._put(_checked(key), data)

    async def appender(self, key: str, create: bool) -> S3Appender:
        if create:
            state = _State(0, b"")
            await self._put_state(_checked(key), state)
        else:
            state = await self._state(_checked(key))
        return S3Appender(self, key, state, stored=True)

    async def truncate(self, key: str, size: int) -> None:
        state = await self._state(_checked(key))
        if size >= state.size:
            return
        parts_end = state.parts * PART
        if size >= parts_end:
            await self._put_state(key, _State(state.parts, state.tail[: size - parts_end]))
            return
        index, within = divmod(size, PART)
        prefix = b""
        if within:
            prefix = b"".join([p async for p in self._get(_part_key(key, index), 0, within)])
        await self._put_state(key, _State(index, prefix))
        await self.delete_many([_part_key(key, i) for i in range(index, state.parts)])

    async def place(self, src: str, dst: str) -> bool:
        with contextlib.suppress(StorageKeyMissing):
            await self._head(_checked(dst))
            return False
        head = await self._head(_checked(src))
        size, tail = _logical_size(head), int(head["ContentLength"])
        if size == tail and size <= self.copy_limit:
            await self._call(
                "copy_object",
                src,
                Bucket=self.bucket,
                Key=dst,
                CopySource={"Bucket": self.bucket, "Key": src},
                MetadataDirective="REPLACE",
            )
        else:
            await self._compose(dst, tuple(self._sources(src, size, tail)))
        return True

    async def delete(self, key: str) -> None:
        await self._call("delete_object", key, Bucket=self.bucket, Key=_checked(key))
        parts = [k async for k, _s, _m in self._listing(f"{PARTS}/{key}/")]
        await self.delete_many(parts)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Keys made whole (blobs); an appended value's parts go with delete()."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            answer = await self._call(
                "delete_objects", None, Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            failed = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING]
            if failed:
                first = failed[0]
                raise StorageUnavailable(
                    f"S3 did not delete {len(failed)} key(s), e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message', '')}".rstrip()
                )

    async def list(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        async for item in self._listing(_checked(prefix).rstrip("/") + "/"):
            yield item

    async def redirect_url(self, key: str, expires: int) -> str | None:
        client = await self._client()
        url: str = await client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": _checked(key)}, ExpiresIn=expires
        )
        return url

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for _client, stack in clients.values():
            with contextlib.suppress(Exception):
                await stack.aclose()

    # ---- helpers -------------------------------------------------------------------------

    async def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            stack = contextlib.AsyncExitStack()
            c = self.config
            client = await stack.enter_async_context(
                self._session.create_client(
                    "s3",
                    endpoint_url=c.endpoint,
                    region_name=c.region,
                    aws_access_key_id=c.access_key,
                    aws_secret_access_key=c.secret_key,
                    config=Config(
                        s3={"addressing_style": "path" if c.path_style else "virtual"},
                        signature_version="s3v4",
                        retries={"mode": "standard", "max_attempts": 2},
                        connect_timeout=3,
                        read_timeout=60,
                        max_pool_connections=32,
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    ),
                )
            )
            self._clients[loop] = (client, stack)
        return self._clients[loop][0]

    async def _call(self, operation: str, key: str | None, **params: Any) -> Any:
        client = await self._client()
        with self._errors(key):
            return await getattr(client, operation)(**params)

    @contextlib.contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """The store's failures as StorageKeyMissing or a StorageUnavailable saying why."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING and key is not None:
                raise StorageKeyMissing(key) from None
            raise StorageUnavailable(self._explain(code, exc)) from exc
        except (TimeoutError, BotoCoreError, OSError) as exc:
            where = self.config.endpoint or "AWS S3"
            raise StorageUnavailable(f"S3 endpoint {where} does not answer: {exc}") from exc

    def _explain(self, code: str, exc: ClientError) -> str:
        if code == "NoSuchBucket":
            return f"S3 bucket {self.bucket!r} does not exist (storage.s3_bucket)"
        if code in _CREDENTIALS:
            return (
                f"S3 refused the credentials for bucket {self.bucket!r} ({code}): check "
                "storage.s3_access_key and storage.s3_secret_key"
            )
        return f"S3 failed on bucket {self.bucket!r}: {exc}"

    async def _head(self, key: str) -> dict[str, Any]:
        head: dict[str, Any] = await self._call("head_object", key, Bucket=self.bucket, Key=key)
        return head

    async def _get(self, key: str, start: int, stop: int) -> AsyncIterator[bytes]:
        """Bytes [start, stop) of one object, streamed."""
        if stop <= start:
            return
        answer = await self._call(
            "get_object", key, Bucket=self.bucket, Key=key, Range=f"bytes={start}-{stop - 1}"
        )
        async with answer["Body"] as body:
            with self._errors(key):
                async for piece in body.iter_chunks(READ_PIECE):
                    yield piece

    async def _put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        await self._call(
            "put_object", key, Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {}
        )

    async def _put_state(self, key: str, state: _State) -> None:
        await self._put(key, state.tail, {SIZE: str(state.size)})

    async def _state(self, key: str) -> _State:
        answer = await self._call("get_object", key, Bucket=self.bucket, Key=key)
        async with answer["Body"] as body:
            with self._errors(key):
                tail = await body.read()
        size = _logical_size(answer)
        return _State((size - len(tail)) // PART, tail)

    def _sources(self, key: str, size: int, tail: int) -> Iterator[tuple[str, str | None]]:
        """(object, byte range or None for all of it) that make up key, in order."""
        parts = (size - tail) // PART
        for index in range(parts):
            yield _part_key(key, index), None
        if parts == 0:  # a plain object past CopyObject's limit: copy it in ranges
            for start in range(0, tail, self.copy_part):
                yield key, f"bytes={start}-{min(start + self.copy_part, tail) - 1}"
        elif tail:
            yield key, None

    async def _compose(self, dst: str, sources: Sequence[tuple[str, str | None]]) -> None:
        """dst from sources by server-side copy: visible only once complete."""
        started = await self._call("create_multipart_upload", dst, Bucket=self.bucket, Key=dst)
        upload_id = started["UploadId"]
        gate = asyncio.Semaphore(PARALLEL_COPIES)

        async def copy(number: int, source: str, span: str | None) -> dict[str, Any]:
            extra = {"CopySourceRange": span} if span else {}
            async with gate:
                answer = await self._call(
                    "upload_part_copy",
                    source,
                    Bucket=self.bucket,
                    Key=dst,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    **extra,
                )
            return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

        try:
            copied = await asyncio.gather(
                *(copy(n, source, span) for n, (source, span) in enumerate(sources, 1))
            )
            await self._call(
                "complete_multipart_upload",
                dst,
                Bucket=self.bucket,
                Key=dst,
                UploadId=upload_id,
                MultipartUpload={"Parts": list(copied)},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._call(
                    "abort_multipart_upload", dst, Bucket=self.bucket, Key=dst, UploadId=upload_id
                )
            raise

    async def _listing(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        client = await self._client()
        paginator = client.get_paginator("list_objects_v2")
        with self._errors(None):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], int(item["Size"]), item["LastModified"].timestamp()


def _checked(key: str) -> str:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or parts[0] == PARTS:
        raise ValueError(f"invalid storage key {key!r}")
    return key


def _part_key(key: str, index: int) -> str:
    return f"{PARTS}/{key}/{index:08d}"


def _logical_size(answer: dict[str, Any]) -> int:
    """An appended value's size from its metadata; a plain object's is its length."""
    stored = answer.get("Metadata", {}).get(SIZE)
    if stored is not None:
        return int(stored)
    content_range = answer.get("ContentRange")
    if content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(answer["ContentLength"])
