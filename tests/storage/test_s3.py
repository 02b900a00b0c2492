"""What the S3 driver does beyond the shared contract: values appended across many parts and
continued by another node, server-side copies, batch deletes, presigned URLs, and errors that
say what is wrong."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from storage import StorageKeyMissing, StorageUnavailable, build_driver
from storage.s3 import PART, S3Driver
from tests.peers import SeaweedS3
from tests.storage.s3 import BUCKET, s3_config, s3_driver
from tests.support import free_port

MiB = 1024 * 1024


@pytest.fixture
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[S3Driver]:
    made = s3_driver(tmp_path, request)
    yield made
    await made.close()


@pytest.fixture
async def other_node(seaweedfs: SeaweedS3, driver: S3Driver) -> AsyncIterator[S3Driver]:
    """A second driver on the same bucket, sharing nothing in memory with the first."""
    made = S3Driver(s3_config(seaweedfs, BUCKET))
    yield made
    await made.close()


async def collect(driver: S3Driver, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([piece async for piece in driver.read(key, offset, length)])


@pytest.mark.parametrize("chunk", [1000, 64 * 1024, PART - 1, PART, PART + 7, 3 * PART])
async def test_chunks_of_any_size_make_the_value_and_parts_stay_hidden(
    driver: S3Driver, seaweedfs: SeaweedS3, chunk: int
) -> None:
    data = os.urandom(2 * PART + 12345) if chunk > 1000 else os.urandom(3 * PART // 2)
    app = await driver.appender("uploads/x", create=True)
    for start in range(0, len(data), chunk):
        await app.write(data[start : start + chunk])
    await app.close()
    assert await driver.stat("uploads/x") == len(data)
    assert await collect(driver, "uploads/x") == data
    # Every object the store holds for it but the last is a whole part of at least 5 MiB.
    stored = seaweedfs.client().list_objects_v2(Bucket=BUCKET)["Contents"]
    part_sizes = [o["Size"] for o in stored if o["Key"] != "uploads/x"]
    assert part_sizes and set(part_sizes) == {PART}
    assert [key async for key, _s, _m in driver.list("uploads")] == ["uploads/x"]


async def test_another_node_continues_an_upload_and_reads_across_parts(
    driver: S3Driver, other_node: S3Driver
) -> None:
    first, second = os.urandom(PART + 100), os.urandom(PART + 200)
    app = await driver.appender("uploads/u", create=True)
    await app.write(first)
    await app.flush()
    # The first node is gone; the next chunk goes to another one.
    again = await other_node.appender("uploads/u", create=False)
    assert again.size == len(first)
    await again.write(second)
    await again.close()
    whole = first + second
    assert await collect(driver, "uploads/u") == whole
    for offset, length in [(PART - 10, 30), (PART + 50, PART), (2 * PART, None), (3, 2 * PART)]:
        end = len(whole) if length is None else offset + length
        assert await collect(driver, "uploads/u", offset, length) == whole[offset:end]


async def test_truncate_into_a_part_keeps_the_bytes_before(driver: S3Driver) -> None:
    data = os.urandom(2 * PART + 10)
    app = await driver.appender("uploads/t", create=True)
    await app.write(data)
    await app.close()
    await driver.truncate("uploads/t", PART + 3)
    assert await collect(driver, "uploads/t") == data[: PART + 3]
    app = await driver.appender("uploads/t", create=False)
    await app.write(b"tail")
    await app.close()
    assert await collect(driver, "uploads/t") == data[: PART + 3] + b"tail"


async def test_place_composes_the_parts_and_the_target_appears_only_then(
    driver: S3Driver,
) -> None:
    data = os.urandom(2 * PART + 999)
    app = await driver.appender("uploads/p", create=True)
    await app.write(data)
    await app.flush()
    target = f"blobs/sha256/{hashlib.sha256(data).hexdigest()}"
    with pytest.raises(StorageKeyMissing):
        await driver.stat(target)  # nothing half-written under the blob's name
    assert await driver.place("uploads/p", target) is True
    assert await driver.read_all(target) == data
    assert await driver.place("uploads/p", target) is False
    await driver.delete("uploads/p")
    assert await driver.read_all(target) == data
    assert [key async for key, _s, _m in driver.list("uploads")] == []


async def test_place_beyond_the_copy_limit_copies_in_ranges(driver: S3Driver) -> None:
    data = os.urandom(2 * PART + 5)
    await driver.write_all("big", data)
    driver.copy_limit, driver.copy_part = PART, PART  # as a 6 GiB object would be copied
    assert await driver.place("big", "copy/big") is True
    assert await driver.read_all("copy/big") == data


async def test_delete_many_goes_in_batches(driver: S3Driver) -> None:
    keys = [f"many/{i:05d}" for i in range(1003)]
    for key in keys:
        await driver.write_all(key, b"x")
    await driver.delete_many([*keys, "many/none"])
    assert [key async for key, _s, _m in driver.list("many")] == []


async def test_redirect_url_serves_the_bytes(driver: S3Driver) -> None:
    await driver.write_all("blobs/r", b"presigned bytes")
    url = await driver.redirect_url("blobs/r", 60)
    assert url is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
    assert answer.status_code == 200 and answer.content == b"presigned bytes"


async def test_filesystem_makes_no_redirect_url(tmp_path: Path) -> None:
    fs = build_driver("filesystem", tmp_path)
    await fs.write_all("k", b"x")
    assert await fs.redirect_url("k", 60) is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param({"secret_key": "wrong"}, "s3_secret_key", id="wrong-secret"),
        pytest.param({"bucket": "no-such-bucket"}, "does not exist", id="missing-bucket"),
        pytest.param({"endpoint": "http://127.0.0.1:{port}"}, "does not answer", id="store-down"),
    ],
)
async def test_errors_name_what_is_wrong(
    seaweedfs: SeaweedS3, changes: dict[str, str], says: str
) -> None:
    changes = {"bucket": BUCKET} | {k: v.format(port=free_port()) for k, v in changes.items()}
    driver = S3Driver(s3_config(seaweedfs, **changes))
    try:
        with pytest.raises(StorageUnavailable, match=says):
            await driver.write_all("k", b"x")
        with pytest.raises(StorageUnavailable, match=says):
            await driver.appender("uploads/e", create=True)
    finally:
        await driver.close()
