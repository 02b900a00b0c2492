"""The storage-driver contract. Every driver joins by adding one entry to DRIVERS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage import StorageDriver, StorageKeyMissing, build_driver
from tests.storage.s3 import s3_driver

# Each builds a driver on an empty store: (a folder for it, the test's request for peers).
DRIVERS: list[Callable[[Path, pytest.FixtureRequest], StorageDriver]] = [
    pytest.param(lambda root, _request: build_driver("filesystem", root), id="filesystem"),  # type: ignore[list-item]
    pytest.param(s3_driver, id="s3"),  # type: ignore[list-item]
]


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    made = request.param(tmp_path / "store", request)
    yield made
    await made.close()


async def collect(
    driver: StorageDriver, key: str, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join([piece async for piece in driver.read(key, offset, length)])


async def test_write_all_then_read_back(driver: StorageDriver) -> None:
    await driver.write_all("a/b/c", b"hello")
    assert await driver.read_all("a/b/c") == b"hello"
    assert await driver.stat("a/b/c") == 5


async def test_write_all_replaces_whole_value(driver: StorageDriver) -> None:
    await driver.write_all("k", b"first value")
    await driver.write_all("k", b"2nd")
    assert await driver.read_all("k") == b"2nd"


async def test_missing_key_raises_storage_key_missing(driver: StorageDriver) -> None:
    with pytest.raises(StorageKeyMissing):
        await driver.stat("nothing/here")
    with pytest.raises(StorageKeyMissing):
        await driver.read_all("nothing/here")
    with pytest.raises(StorageKeyMissing):
        await collect(driver, "nothing/here")
    with pytest.raises(StorageKeyMissing):
        await driver.appender("nothing/here", create=False)


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        pytest.param(0, None, b"0123456789", id="whole"),
        pytest.param(3, None, b"3456789", id="from-offset"),
        pytest.param(2, 4, b"2345", id="window"),
        pytest.param(9, 1, b"9", id="last-byte"),
    ],
)
async def test_read_range(
    driver: StorageDriver, offset: int, length: int | None, expected: bytes
) -> None:
    await driver.write_all("r", b"0123456789")
    assert await collect(driver, "r", offset, length) == expected


async def test_read_streams_large_values_in_pieces(driver: StorageDriver) -> None:
    data = bytes(range(256)) * 20_000  # ~5 MB
    await driver.write_all("big", data)
    pieces = [p async for p in driver.read("big")]
    assert len(pieces) > 1
    assert b"".join(pieces) == data


async def test_appender_appends_and_reports_size(driver: StorageDriver) -> None:
    app = await driver.appender("up/1", create=True)
    await app.write(b"abc")
    await app.write(b"def")
    await app.flush()
    assert app.size == 6
    await app.close()
    again = await driver.appender("up/1", create=False)
    assert again.size == 6
    await again.write(b"g")
    await again.close()
    await again.close()  # safe to repeat
    assert await driver.read_all("up/1") == b"abcdefg"


async def test_truncate_drops_the_tail(driver: StorageDriver) -> None:
    await driver.write_all("t", b"keep-drop")
    await driver.truncate("t", 4)
    assert await driver.read_all("t") == b"keep"


async def test_place_keeps_the_source_and_an_existing_target(driver: StorageDriver) -> None:
    await driver.write_all("src1", b"content")
    assert await driver.place("src1", "dst/x") is True
    assert await driver.read_all("dst/x") == b"content"
    assert await driver.read_all("src1") == b"content"  # the source stays until deleted
    # Deleting the source leaves the target whole.
    await driver.delete("src1")
    assert await driver.read_all("dst/x") == b"content"
    # Given the target exists, placing the same content again keeps it as it is.
    await driver.write_all("src2", b"content")
    assert await driver.place("src2", "dst/x") is False
    assert await driver.read_all("dst/x") == b"content"
    assert await driver.place("src2", "dst/x") is False  # safe to repeat
    with pytest.raises(StorageKeyMissing):
        await driver.place("missing", "dst/y")


async def test_delete_is_idempotent(driver: StorageDriver) -> None:
    await driver.write_all("d", b"x")
    await driver.delete("d")
    await driver.delete("d")
    with pytest.raises(StorageKeyMissing):
        await driver.stat("d")


async def test_delete_many_removes_each_and_ignores_missing(driver: StorageDriver) -> None:
    for key in ("m/1", "m/2", "m/3"):
        await driver.write_all(key, b"x")
    await driver.delete_many(["m/1", "m/3", "m/none"])
    await driver.delete_many(["m/1", "m/3"])  # safe to repeat
    assert [key async for key, _size, _mtime in driver.list("m")] == ["m/2"]


async def test_list_under_prefix(driver: StorageDriver) -> None:
    await driver.write_all("p/one", b"1")
    await driver.write_all("p/sub/two", b"22")
    await driver.write_all("q/other", b"3")
    found = {key: size async for key, size, _mtime in driver.list("p")}
    assert found == {"p/one": 1, "p/sub/two": 2}


@pytest.mark.parametrize("key", ["", "../escape", "a/../b", "a//b", "/abs"])
async def test_keys_that_escape_or_are_malformed_are_refused(
    driver: StorageDriver, key: str
) -> None:
    with pytest.raises(ValueError):
        await driver.write_all(key, b"x")
