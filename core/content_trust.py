"""What Docker Content Trust signs, as the pull path, deletes and the artifacts API ask it.

The Notary server (core/trust.py) keeps one `trust_target` row per tag that a repository's
current trust data signs and that verified from root down when the data was accepted, with
the soonest expiry along its chain. A tag counts as signed with a digest only while such a
row names both and has not expired; a digest counts as signed while some signed tag of the
repository maps to it (a client with content trust on resolves the tag through Notary and
pulls by that digest), or to an index naming it (a multi-platform tag: the client pulls the
index, then its platform's manifest by digest). Each question is one indexed read
(`trust_target`'s (repository, tag) and (repository, digest) indexes).

The fragments below are the one definition of "signed": `core.registry` puts them inside
the pull path's query, with the outer query's columns for repository, tag and digest.
"""

from __future__ import annotations

import re
import time

from core import manifest_digests
from core.errors import SignedInNotary
from models import fetch

# {repository}, {tag}, {digest}, {now}: SQL expressions (an outer query's column, or a
# placeholder through `_bound`); SIGNED_TAG's {digest} may be a subquery of every digest
# the manifest is known by (a trust target is its sha256; the tag may be on a manifest first
# pushed by sha512). A digest is signed directly, or as a child of a signed index (by any
# of the index's digests): a client pulls a multi-platform tag's index, then its platform's
# manifest by digest.
SIGNED_TAG = (
    "EXISTS (SELECT 1 FROM trust_target tt WHERE tt.repository = {repository}"
    " AND tt.tag = {tag} AND tt.digest IN ({digest}) AND tt.expires > {now})"
)
SIGNED_DIGEST = (
    "EXISTS (SELECT 1 FROM trust_target tt WHERE tt.repository = {repository}"
    " AND tt.digest IN (SELECT {digest} UNION ALL SELECT p.digest FROM manifest_reference mr"
    " JOIN manifest_digest p ON p.manifest_id = mr.manifest_id WHERE mr.digest = {digest}"
    " AND mr.kind = 'manifest') AND tt.expires > {now})"
)
_SIGNED_TAGS = "SELECT tag, digest FROM trust_target WHERE repository = ? AND expires > ?"
_TAG_SIGNED = (
    "SELECT m.digest FROM tag t JOIN repository r ON r.id = t.repository_id"
    " JOIN manifest m ON m.id = t.manifest_id WHERE r.name = ? AND t.name = ? AND "
    + SIGNED_TAG.format(
        repository="r.name",
        tag="t.name",
        digest=manifest_digests.DIGESTS_OF.format(manifest="m.id"),
        now="?",
    )
)
_SIGNED_IN = (
    "SELECT 1 FROM trust_target tt JOIN manifest_digest d ON d.digest = tt.digest"
    " WHERE tt.repository = ? AND d.repository_id = ? AND tt.expires > ? LIMIT 1"
)
_FIELD = re.compile(r"\{(\w+)\}")


def _bound(fragment: str, **values: object) -> tuple[str, list[object]]:
    """A fragment as a statement of its own: each {name} a placeholder, and the
    parameters in the order they appear."""
    params: list[object] = []

    def mark(found: re.Match[str]) -> str:
        params.append(values[found.group(1)])
        return "?"

    return "SELECT " + _FIELD.sub(mark, fragment), params


NOT_SIGNED = "The image is not signed in Notary."  # Harbor's words, which docker shows


def epoch_now() -> int:
    """The clock trust expiries are compared with: epoch seconds."""
    return int(time.time())


async def signed(repository: str, tag: str, digest: str, now: int | None = None) -> bool:
    """Whether the repository's trust data signs tag with exactly digest, unexpired at `now`
    (the clock by default)."""
    clock = epoch_now() if now is None else now
    sql, params = _bound(SIGNED_TAG, repository=repository, tag=tag, digest=digest, now=clock)
    rows = await fetch(sql, *params)
    return bool(rows and rows[0][0])


async def signed_digest(repository: str, digest: str, now: int | None = None) -> bool:
    """Whether some tag the repository's trust data signs (unexpired at `now`) maps to
    digest, or to an index naming digest as one of its manifests."""
    clock = epoch_now() if now is None else now
    sql, params = _bound(SIGNED_DIGEST, repository=repository, digest=digest, now=clock)
    rows = await fetch(sql, *params)
    return bool(rows and rows[0][0])


async def signed_tags(repository: str, now: int | None = None) -> dict[str, str]:
    """Every tag the repository's trust data signs, unexpired at `now`: {tag: digest}."""
    rows = await fetch(_SIGNED_TAGS, repository, epoch_now() if now is None else now)
    return {str(tag): str(digest) for tag, digest in rows}


async def refuse_tag_delete(repository: str, tag: str) -> None:
    """Raise SignedInNotary when the trust data signs tag with the digest it is on: removing
    it would leave a signature naming a tag that is gone. A tag moved to another digest since
    it was signed may go (what it is on now is unsigned)."""
    rows = await fetch(_TAG_SIGNED, repository, tag, epoch_now())
    if rows:
        raise SignedInNotary(repository, tag=tag, digest=str(rows[0][0]))


async def refuse_artifact_delete(repository: str, digest: str) -> None:
    """Raise SignedInNotary when digest, or another digest of the manifest it names, is what
    a signed tag of the repository names: a client with content trust on pulls that tag by
    that digest (its sha256), and deleting by any digest deletes the manifest."""
    for known in await manifest_digests.aliases(repository, digest):
        if await signed_digest(repository, known):
            raise SignedInNotary(repository, digest=digest)


async def refuse_repository_delete(repository: str, repository_id: int) -> None:
    """Raise SignedInNotary when any artifact of the repository is what a signed tag names."""
    if await fetch(_SIGNED_IN, repository, repository_id, epoch_now()):
        raise SignedInNotary(repository)
