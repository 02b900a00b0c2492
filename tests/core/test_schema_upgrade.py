"""A database made before a column or a table was added gets it at start, its rows kept
(and, for manifest_digest, filled from them)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from tortoise import Tortoise

from core.digests import digest_of
from models import (
    Blob,
    Manifest,
    ManifestDigest,
    Project,
    Repository,
    close_database,
    open_database,
)
from tests.support import postgres_database, require

# The blob table as the first release made it, before online GC's columns.
OLD_BLOB = (
    "CREATE TABLE blob (id {pk}, digest VARCHAR(200) NOT NULL UNIQUE, size BIGINT NOT NULL,"
    " status VARCHAR(16) NOT NULL DEFAULT 'none', version INT NOT NULL DEFAULT 0,"
    " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)
OCI = "application/vnd.oci.image.manifest.v1+json"
ROW = "INSERT INTO blob (digest, size) VALUES ('sha256:' || repeat('a', 64), 3)"


async def upgraded(url: str) -> Blob:
    for _start in range(2):  # the second start finds nothing to add
        await open_database(url)
        blob = await Blob.get(size=3)
        await close_database()
    return blob


async def test_sqlite_blob_rows_gain_the_gc_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_BLOB.format(pk="INTEGER PRIMARY KEY"))
        conn.execute(ROW.replace("repeat('a', 64)", "'" + "a" * 64 + "'"))
    blob = await upgraded(f"sqlite://{path}")
    assert (blob.status, blob.touched_ms, blob.gc_run) == ("none", 0, None)


async def test_postgres_blob_rows_gain_the_gc_columns() -> None:
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        assert url is not None
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(OLD_BLOB.format(pk="SERIAL PRIMARY KEY"))
            await conn.execute(ROW)
        finally:
            await conn.close()
        blob = await upgraded(url)
        assert (blob.status, blob.touched_ms, blob.gc_run) == ("none", 0, None)


# Manifests of a database made before manifest_digest: by tag (sha256), by sha512, and the
# same bytes stored twice, once under each (what pushes by sha512 and by tag made then).
MANIFESTS = {"tagged": (b'{"a":1}', "sha256"), "by-sha512": (b'{"b":2}', "sha512")}
TWICE = b'{"c":3}'


async def a_database_before_manifest_digests(url: str) -> None:
    await open_database(url)
    project = await Project.create(name="library")
    repo = await Repository.create(name="library/app", project=project)
    rows = [(body, digest_of(body, alg)) for body, alg in MANIFESTS.values()]
    rows += [(TWICE, digest_of(TWICE, "sha512")), (TWICE, digest_of(TWICE, "sha256"))]
    for body, digest in rows:
        await Manifest.create(
            repository=repo, digest=digest, media_type=OCI, size=len(body), content=body
        )
    conn = Tortoise.get_connection("default")
    await conn.execute_script("DROP TABLE manifest_digest")
    await close_database()


async def digests_after_upgrade(url: str) -> dict[str, set[str]]:
    """Each manifest's (by its own digest) digests after two starts."""
    for _start in range(2):  # the second start finds them filled and adds nothing
        await open_database(url)
        rows = await ManifestDigest.all().values_list("manifest__digest", "digest")
        await close_database()
    known: dict[str, set[str]] = {}
    for own, digest in rows:
        known.setdefault(str(own), set()).add(str(digest))
    return known


def expected_digests() -> dict[str, set[str]]:
    tagged, by_sha512 = (digest_of(body, alg) for body, alg in MANIFESTS.values())
    return {
        tagged: {tagged},
        # a manifest pushed by sha512 is known by its sha256 too
        by_sha512: {by_sha512, digest_of(MANIFESTS["by-sha512"][0], "sha256")},
        # two rows of the same bytes stay two: the sha256 stays with the row it names
        digest_of(TWICE, "sha512"): {digest_of(TWICE, "sha512")},
        digest_of(TWICE, "sha256"): {digest_of(TWICE, "sha256")},
    }


async def test_sqlite_manifests_gain_their_digests(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'old.db'}"
    await a_database_before_manifest_digests(url)
    assert await digests_after_upgrade(url) == expected_digests()


async def test_postgres_manifests_gain_their_digests() -> None:
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        assert url is not None
        await a_database_before_manifest_digests(url)
        assert await digests_after_upgrade(url) == expected_digests()
