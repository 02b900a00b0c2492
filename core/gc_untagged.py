"""Which manifests a collection with delete_untagged removes, and removing them.

A manifest is alive when a tag names it, when it is a child of a live index, or when its
subject is a live manifest of the same repository (a signature, an SBOM) — an index and a
referrer may name it by any digest it is known by (`manifest_digest`). Everything else
is untagged and goes; its removal is an artifact delete like any other (audit event,
DELETE_ARTIFACT webhooks), re-checked inside its own transaction so that a tag or a parent
pushed meanwhile keeps it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from core import audit, events
from core.artifacts import delete_artifact
from models import fetch

_MANIFESTS = (
    "SELECT m.id, m.repository_id, m.digest, m.subject_digest,"
    " EXISTS (SELECT 1 FROM tag t WHERE t.manifest_id = m.id), r.name, p.name, p.id"
    " FROM manifest m JOIN repository r ON r.id = m.repository_id"
    " JOIN project p ON p.id = r.project_id"
)
_DIGESTS = "SELECT repository_id, digest, manifest_id FROM manifest_digest"
_CHILDREN = (
    "SELECT m.id, m.repository_id, c.digest FROM manifest_reference c"
    " JOIN manifest m ON m.id = c.manifest_id WHERE c.kind = 'manifest'"
)
# Still removable: no tag, no parent index left in the repository, no subject left in it.
_STILL_UNTAGGED = (
    "SELECT 1 FROM manifest m WHERE m.id = ?"
    " AND NOT EXISTS (SELECT 1 FROM tag t WHERE t.manifest_id = m.id)"
    " AND NOT EXISTS (SELECT 1 FROM manifest_digest a JOIN manifest_reference c"
    "  ON c.digest = a.digest JOIN manifest p ON p.id = c.manifest_id WHERE a.manifest_id = m.id"
    "  AND c.kind = 'manifest' AND p.repository_id = m.repository_id)"
    " AND NOT EXISTS (SELECT 1 FROM manifest_digest s WHERE s.repository_id = m.repository_id"
    "  AND s.digest = m.subject_digest)"
)


@dataclass(frozen=True, slots=True)
class Untagged:
    id: int
    repository_id: int
    repository: str
    digest: str
    project: str
    project_id: int


async def untagged_manifests() -> list[Untagged]:
    """Every manifest nothing keeps alive, parents and subjects before their children and
    referrers where both go."""
    rows = await fetch(_MANIFESTS)
    named = {(int(r), str(d)): int(m) for r, d, m in await fetch(_DIGESTS)}  # type: ignore[call-overload]
    # What keeps what alive, by manifest id: a parent its children, a subject its referrers.
    keeps: dict[int, list[int]] = defaultdict(list)
    for parent, repo_id, child in await fetch(_CHILDREN):
        if (found := named.get((int(repo_id), str(child)))) is not None:  # type: ignore[call-overload]
            keeps[int(parent)].append(found)  # type: ignore[call-overload]
    for id_, repo_id, _digest, subject, *_ in rows:
        if subject and (found := named.get((int(repo_id), str(subject)))) is not None:  # type: ignore[call-overload]
            keeps[found].append(int(id_))  # type: ignore[call-overload]
    live: set[int] = set()
    todo = [int(r[0]) for r in rows if r[4]]  # type: ignore[call-overload]
    while todo:
        key = todo.pop()
        if key in live:
            continue
        live.add(key)
        todo += keeps[key]
    doomed = [
        Untagged(int(i), int(rid), str(repo), str(d), str(proj), int(pid))  # type: ignore[call-overload]
        for i, rid, d, _s, _t, repo, proj, pid in rows
        if int(i) not in live  # type: ignore[call-overload]
    ]
    return doomed


async def delete_untagged(manifest: Untagged, host: str | None = None) -> bool:
    """Remove the manifest if it is still untagged, as an artifact delete with its event;
    False when something took it back (or removed it) meanwhile."""
    resource = f"{manifest.repository}@{manifest.digest}"
    event = audit.Event(
        audit.DELETE, audit.ARTIFACT, resource, manifest.project, manifest.project_id, host=host
    )
    async with events.transaction() as tx:
        if tx.capabilities.dialect == "postgres":  # a tag or parent pushed now waits for us
            await tx.execute_query("SELECT 1 FROM manifest WHERE id = $1 FOR UPDATE", [manifest.id])
        if not await fetch(_STILL_UNTAGGED, manifest.id):
            return False
        await delete_artifact(
            tx, event, manifest.repository_id, manifest.repository, manifest.digest
        )
    return True
