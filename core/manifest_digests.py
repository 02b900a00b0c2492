"""The digests a manifest is known by (`manifest_digest`): one row per manifest, whatever
digest its bytes were pushed under.

A manifest row keeps the digest it was first pushed under (`manifest.digest`: what a pull
by tag and the artifacts API answer). Its `manifest_digest` rows hold that digest, every
other digest a client pushed the same bytes under, and always its sha256 — the key that
keeps one row per manifest: two pushes of the same bytes, one by a sha512 digest and one
by tag, meet on the sha256's unique (repository, digest) even when they race. Every lookup
of a manifest by digest goes through this table, so each of its digests pulls, deletes and
finds its referrers.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.digests import digest_of
from models import ManifestDigest, fetch

# The id of the manifest a digest names in a repository, as a SQL expression; its two
# placeholders are the repository id and the digest.
MANIFEST_ID = "(SELECT manifest_id FROM manifest_digest WHERE repository_id = ? AND digest = ?)"
# Every digest of the manifest whose id is the SQL expression {manifest}.
DIGESTS_OF = "SELECT a.digest FROM manifest_digest a WHERE a.manifest_id = {manifest}"

_KNOWN = (
    "SELECT d.manifest_id, m.digest, d.digest FROM manifest_digest d"
    " JOIN manifest m ON m.id = d.manifest_id WHERE d.repository_id = ? AND d.digest IN (?, ?)"
)
_ALIASES = (
    "SELECT a.digest FROM manifest_digest k JOIN repository r ON r.id = k.repository_id"
    " JOIN manifest_digest a ON a.manifest_id = k.manifest_id"
    " WHERE r.name = ? AND k.digest = ? ORDER BY a.id"
)
_ALIASES_BY_ID = "SELECT digest FROM manifest_digest WHERE manifest_id = ? ORDER BY id"


@dataclass(frozen=True, slots=True)
class Known:
    """A manifest of the repository that holds some bytes already."""

    manifest_id: int
    digest: str  # the one it was first pushed under
    digests: frozenset[str]  # of the digests asked about, those it is known by


def key_of(body: bytes, digest: str) -> str:
    """The digest that identifies a manifest's bytes in its repository: their sha256 (digest
    itself when it is one: the bytes were checked against it)."""
    return digest if digest.startswith("sha256:") else digest_of(body, "sha256")


async def known(repository_id: int, key: str, digest: str) -> Known | None:
    """The repository's manifest whose bytes have the sha256 key, or that is known by
    digest (the one it is pushed under now); None when there is none. One indexed read."""
    rows = await fetch(_KNOWN, repository_id, key, digest)
    if not rows:
        return None
    # Two rows of a database made before this table may hold the same bytes: the one
    # known by the pushed digest wins.
    rows.sort(key=lambda row: row[2] != digest)
    manifest_id = int(rows[0][0])  # type: ignore[call-overload]
    found = frozenset(str(row[2]) for row in rows if row[0] == rows[0][0])
    return Known(manifest_id, str(rows[0][1]), found)


async def remember(
    repository_id: int, manifest_id: int, key: str, digest: str, known: Known | None
) -> None:
    """The manifest is known by digest and by its sha256 from now on (in the caller's
    transaction). A concurrent push that stored the same bytes first makes this raise
    IntegrityError: the caller reads what it stored and goes on."""
    wanted = {digest, key} - (known.digests if known else frozenset())
    rows = [
        ManifestDigest(repository_id=repository_id, digest=d, manifest_id=manifest_id)
        for d in sorted(wanted, key=lambda d: d != digest)  # the pushed one first
    ]
    if rows:
        await ManifestDigest.bulk_create(rows)


async def aliases(repository: str, digest: str) -> list[str]:
    """Every digest of the manifest that digest names in the repository, the first pushed
    first; [digest] alone when it names none (a referrer may come before its subject)."""
    found = [str(row[0]) for row in await fetch(_ALIASES, repository, digest)]
    return found or [digest]


async def digests_of(manifest_id: int) -> list[str]:
    """Every digest the manifest is known by, the first pushed first."""
    return [str(row[0]) for row in await fetch(_ALIASES_BY_ID, manifest_id)]
