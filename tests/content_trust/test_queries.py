"""core/content_trust.py's questions, on SQLite and PostgreSQL: what counts as signed at a
given time, and that each question (and the pull path's) is an indexed read, no scan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core import content_trust, registry
from tests.content_trust.support import sign
from tests.support import InProcessBerth, berth_app

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


async def test_signed_means_this_tag_with_this_digest_until_it_expires(
    in_process: InProcessBerth,
) -> None:
    # Given trust data signing tag v1 of library/app with DIGEST, expiring in an hour
    expires = await sign("library/app", "v1", DIGEST, expires_in=3600)
    now = expires - 3600
    # Then it is signed before its expiry, and no longer at it
    assert await content_trust.signed("library/app", "v1", DIGEST, now)
    assert await content_trust.signed("library/app", "v1", DIGEST, expires - 1)
    assert not await content_trust.signed("library/app", "v1", DIGEST, expires)
    # And only that tag, with that digest, in that repository
    assert not await content_trust.signed("library/app", "v2", DIGEST, now)
    assert not await content_trust.signed("library/app", "v1", OTHER, now)
    assert not await content_trust.signed("library/other", "v1", DIGEST, now)
    # And the digest is signed (a signed tag maps to it), the other not
    assert await content_trust.signed_digest("library/app", DIGEST, now)
    assert not await content_trust.signed_digest("library/app", OTHER, now)
    assert not await content_trust.signed_digest("library/app", DIGEST, expires + 1)
    # And the repository's signed tags are that one, until it expires
    assert await content_trust.signed_tags("library/app", now) == {"v1": DIGEST}
    assert await content_trust.signed_tags("library/app", expires + 1) == {}


QUERIES = {
    "pull by tag": registry._MANIFEST_BY_TAG,
    "pull by digest": registry._MANIFEST_BY_DIGEST,
    "signed tag": content_trust._bound(
        content_trust.SIGNED_TAG, repository="r", tag="t", digest=DIGEST, now=0
    )[0],
    "signed digest": content_trust._bound(
        content_trust.SIGNED_DIGEST, repository="r", digest=DIGEST, now=0
    )[0],
    "signed tags": content_trust._SIGNED_TAGS,
    "tag delete": content_trust._TAG_SIGNED,
    "repository delete": content_trust._SIGNED_IN,
}


@pytest.mark.parametrize("name", QUERIES)
async def test_each_question_is_an_indexed_read(name: str, tmp_path: Path) -> None:
    # Given Berth's schema (SQLite: its planner's choice does not hang on table sizes)
    async with berth_app(tmp_path):
        pass
    sql = QUERIES[name]
    # When SQLite plans the query
    with sqlite3.connect(tmp_path / "berth.db") as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [1] * sql.count("?"))]
    # Then every table is reached through an index, none scanned
    scans = [step for step in plan if step.startswith("SCAN") and "CONSTANT ROW" not in step]
    assert plan and not scans, plan
