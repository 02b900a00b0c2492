"""Project quotas: a storage limit per project, and its usage counted once per blob.

A blob (or manifest) counts in a project's usage from the moment it becomes part of a
repository of the project (an upload's commit, a mount, a manifest PUT) until no
repository of the project holds it any more (an artifact or repository delete, a blob
DELETE, garbage collection). `project_blob` holds one row per (project, digest); `quota`
holds the limit and the running sum.

The hot path (`charge`, inside the transaction that links the blob) is one indexed
insert-if-absent and, when the row is new, one conditional UPDATE that adds the size only
while the sum stays within the limit: two pushes racing for the last bytes cannot both
pass, whatever the database (SQLite serialises writers; PostgreSQL re-checks the
condition on the row the other transaction committed). A refusal raises QuotaExceeded,
which rolls the link back with it. `precheck` asks the same question without writing,
before bytes are stored, so a push over the limit is refused before its upload lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet

from core import events
from models import Project, ProjectBlob, Quota, User, execute, fetch
from models.errors import Denied, InvalidInput, NotFound

UNLIMITED = -1
MAX_LIMIT = 1024**5  # 1024 TiB, Harbor's bound on a storage limit
STORAGE = "storage"  # the one resource Harbor's quotas name

_COUNT_ROW = (
    "INSERT INTO project_blob (project_id, digest, size) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_COUNT_ROW_OF_REPOSITORY = (
    "INSERT INTO project_blob (project_id, digest, size)"
    " SELECT project_id, CAST(? AS VARCHAR(200)), CAST(? AS BIGINT) FROM repository"
    " WHERE id = ? ON CONFLICT DO NOTHING RETURNING project_id"
)
_ADD = (
    "UPDATE quota SET used = used + ?, updated_at = ? WHERE project_id = ?"
    " AND (hard < 0 OR used + ? <= hard) RETURNING id"
)
_USAGE = "SELECT hard, used FROM quota WHERE project_id = ?"
_PRECHECK = (
    "SELECT q.hard, q.used, (SELECT 1 FROM project_blob pb WHERE pb.project_id = q.project_id"
    " AND pb.digest = ?) FROM quota q WHERE q.project_id = ?"
)
_PROJECT_OF = "SELECT project_id FROM repository WHERE id = ?"
# Rows no repository of their project holds any more: no link to the blob, no manifest.
_UNHELD = (
    " NOT EXISTS (SELECT 1 FROM repository_blob l JOIN repository r ON r.id = l.repository_id"
    " WHERE r.project_id = project_blob.project_id AND l.digest = project_blob.digest)"
    " AND NOT EXISTS (SELECT 1 FROM manifest m JOIN repository r ON r.id = m.repository_id"
    " WHERE r.project_id = project_blob.project_id AND m.digest = project_blob.digest)"
)
_RELEASE = (
    "DELETE FROM project_blob WHERE project_id = ?{digests} AND" + _UNHELD + " RETURNING size"
)
_SUBTRACT = (
    "UPDATE quota SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END, updated_at = ?"
    " WHERE project_id = ?"
)
_RELEASE_ALL = "DELETE FROM project_blob WHERE" + _UNHELD
_COUNT_LINKS = (
    "INSERT INTO project_blob (project_id, digest, size)"
    " SELECT DISTINCT r.project_id, l.digest, b.size FROM repository_blob l"
    " JOIN repository r ON r.id = l.repository_id JOIN blob b ON b.digest = l.digest"
    " WHERE 1 = 1 ON CONFLICT DO NOTHING"
)
_COUNT_MANIFESTS = (
    "INSERT INTO project_blob (project_id, digest, size)"
    " SELECT DISTINCT r.project_id, m.digest, m.size FROM manifest m"
    " JOIN repository r ON r.id = m.repository_id WHERE 1 = 1 ON CONFLICT DO NOTHING"
)
_RESUM = (
    "UPDATE quota SET used = (SELECT coalesce(sum(pb.size), 0) FROM project_blob pb"
    " WHERE pb.project_id = quota.project_id)"
)


def format_bytes(value: int) -> str:
    """Bytes as Harbor writes them in its quota messages: 512 B, 10.5 MiB, 1.0 GiB."""
    if value < 1024:
        return f"{value} B"
    div, exp = 1024, 0
    n = value // 1024
    while n >= 1024:
        div, exp, n = div * 1024, exp + 1, n // 1024
    return f"{value / div:.1f} {'KMGTPE'[exp]}iB"


class QuotaExceeded(Denied):
    """A push that would take the project's usage past its limit (403 DENIED, Harbor's
    message, which docker prints)."""

    def __init__(self, hard: int, used: int, adding: int) -> None:
        super().__init__(
            f"adding {format_bytes(adding)} of storage resource, which when updated to"
            f" current usage of {format_bytes(used)} will exceed the configured upper limit"
            f" of {format_bytes(hard)}.",
            {"hard": hard, "used": used, "adding": adding},
        )


class QuotaUnknown(NotFound):
    def __init__(self, quota_id: int) -> None:
        super().__init__(f"quota {quota_id} not found")


class LimitInvalid(InvalidInput):
    """A storage limit neither -1 (unlimited) nor a whole number of bytes in 1 .. 1024 TiB."""


def checked_limit(value: object, field: str) -> int:
    """A storage limit a caller sent: -1 (unlimited), or 1 .. MAX_LIMIT bytes (Harbor's rule)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitInvalid(f"{field} must be an integer number of bytes (-1: unlimited)")
    if value != UNLIMITED and not 0 < value <= MAX_LIMIT:
        raise LimitInvalid(f"{field} must be -1 (unlimited) or 1..{MAX_LIMIT} bytes (1024 TiB)")
    return value


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    id: int
    project_id: int
    project_name: str
    owner_name: str
    hard: int
    used: int
    created_at: datetime
    updated_at: datetime


# --- the push path ------------------------------------------------------------------------


async def project_of_repository(repo_id: int) -> int:
    rows = await fetch(_PROJECT_OF, repo_id)
    return int(rows[0][0])  # type: ignore[call-overload]


async def charge(tx: BaseDBAsyncClient, project_id: int, digest: str, size: int) -> None:
    """Count digest in the project's usage, once; inside the transaction that makes it part
    of a repository of the project. QuotaExceeded (the transaction must roll back) when it
    would take usage past the limit."""
    if await execute(_COUNT_ROW, project_id, digest, size, using=tx):
        await _add(tx, project_id, size)
    # else the project counts it already


async def charge_repository(tx: BaseDBAsyncClient, repo_id: int, digest: str, size: int) -> None:
    """charge() to the project of the repository repo_id, in the same one statement."""
    rows = await execute(_COUNT_ROW_OF_REPOSITORY, digest, size, repo_id, using=tx)
    if rows:
        await _add(tx, int(rows[0][0]), size)  # type: ignore[call-overload]


async def _add(tx: BaseDBAsyncClient, project_id: int, size: int) -> None:
    """Add size to the project's usage within its limit; QuotaExceeded past it."""
    hard, used = UNLIMITED, 0
    for _ in range(3):
        if await execute(_ADD, size, _now(tx), project_id, size, using=tx):
            return
        rows = await execute(_USAGE, project_id, using=tx)
        if not rows:  # a project made without its quota row (an older Berth, a replication's pull)
            await Quota.bulk_create(
                [Quota(project_id=project_id, hard=UNLIMITED, used=0)],
                ignore_conflicts=True,
                using_db=tx,
            )
            continue
        hard, used = (int(v) for v in rows[0])  # type: ignore[call-overload]
        if 0 <= hard < used + size:
            raise QuotaExceeded(hard, used, size)
        # The row was made by a concurrent link after the UPDATE looked (PostgreSQL: the
        # UPDATE's snapshot did not hold it yet): add again, now that it is there.
    raise QuotaExceeded(hard, used, size)


async def precheck(project_id: int, size: int, digest: str | None = None) -> None:
    """QuotaExceeded when adding size bytes (of digest, when known: nothing when the project
    counts it already) would pass the project's limit; one indexed read, no write."""
    rows = await fetch(_PRECHECK, digest or "", project_id)
    if not rows:
        return
    hard, used, counted = rows[0]
    hard_, used_ = int(hard), int(used)  # type: ignore[call-overload]
    if hard_ >= 0 and counted is None and used_ + size > hard_:
        raise QuotaExceeded(hard_, used_, size)


# --- giving space back ---------------------------------------------------------------------


def _now(tx: BaseDBAsyncClient) -> datetime | str:
    """The time of a usage change as the column takes it: asyncpg a datetime, SQLite the text
    Tortoise writes (str() of an aware datetime)."""
    now = datetime.now(UTC)
    return now if tx.capabilities.dialect == "postgres" else str(now)


async def release(
    tx: BaseDBAsyncClient, project_id: int, digests: Sequence[str] | None = None
) -> int:
    """Stop counting what no repository of the project holds any more (of digests, or
    all); inside the transaction that removed it. The bytes given back."""
    where = ""
    if digests is not None:
        if not digests:
            return 0
        where = f" AND digest IN ({','.join('?' * len(digests))})"
    rows = await execute(_RELEASE.format(digests=where), project_id, *(digests or ()), using=tx)
    freed = sum(int(r[0]) for r in rows)  # type: ignore[call-overload]
    if freed:
        await execute(_SUBTRACT, freed, freed, _now(tx), project_id, using=tx)
    return freed


async def reconcile() -> None:
    """Count every project's usage again from what its repositories hold (after garbage
    collection, and once on a database made before quotas): rows nothing holds go, held
    blobs and manifests not counted are added, each sum is recomputed. One transaction."""
    async with events.transaction() as tx:
        await ensure_quotas(tx)
        await execute(_RELEASE_ALL, using=tx)
        await execute(_COUNT_LINKS, using=tx)
        await execute(_COUNT_MANIFESTS, using=tx)
        await execute(_RESUM, using=tx)


async def ensure_quotas(tx: BaseDBAsyncClient | None = None) -> None:
    """A quota row, unlimited, for each project that has none."""
    ids = set(await Project.all().using_db(tx).values_list("id", flat=True))
    have = set(await Quota.all().using_db(tx).values_list("project_id", flat=True))
    missing = [Quota(project_id=i, hard=UNLIMITED, used=0) for i in sorted(ids - have)]
    if missing:
        await Quota.bulk_create(missing, ignore_conflicts=True, using_db=tx)


async def prepare() -> None:
    """At start: on a database with projects but no quota yet, count every project's usage."""
    if not await Quota.exists():
        await reconcile()
    else:
        async with events.transaction() as tx:
            await ensure_quotas(tx)


# --- the quota API --------------------------------------------------------------------------


async def create_quota(project_id: int, hard: int, tx: BaseDBAsyncClient | None = None) -> None:
    """The quota of a new project (safe to repeat: an existing row is kept)."""
    await Quota.bulk_create(
        [Quota(project_id=project_id, hard=hard, used=0)], ignore_conflicts=True, using_db=tx
    )


async def delete_quota(project_id: int) -> None:
    """The quota of a project being deleted, with whatever it still counted."""
    await Quota.filter(project_id=project_id).delete()
    await ProjectBlob.filter(project_id=project_id).delete()


async def get_quota(quota_id: int) -> QuotaInfo:
    """Raises QuotaUnknown."""
    rows = await _describe(Quota.filter(id=quota_id))
    if not rows:
        raise QuotaUnknown(quota_id)
    return rows[0]


async def project_quota(project_id: int) -> QuotaInfo | None:
    """The project's quota (for a project's summary); None for a project without one."""
    rows = await _describe(Quota.filter(project_id=project_id))
    return rows[0] if rows else None


async def list_quotas(
    project_id: int | None, order: list[str], offset: int, limit: int
) -> tuple[list[QuotaInfo], int]:
    """A page of quotas (of one project, when project_id is given) and their count."""
    query = Quota.all() if project_id is None else Quota.filter(project_id=project_id)
    total = await query.count()
    return await _describe(query.order_by(*order, "id").offset(offset).limit(limit)), total


async def set_hard(quota_id: int, hard: int, tx: BaseDBAsyncClient | None = None) -> int:
    """Change the limit (a limit below the usage is allowed, as in Harbor: pushes are then
    refused until space is given back); the limit before. Raises QuotaUnknown."""
    row = await Quota.get_or_none(id=quota_id, using_db=tx)
    if row is None:
        raise QuotaUnknown(quota_id)
    await Quota.filter(id=quota_id).using_db(tx).update(hard=hard)
    return int(row.hard)


async def _describe(query: QuerySet[Quota]) -> list[QuotaInfo]:
    rows = await query
    if not rows:
        return []
    project_ids = [q.project_id for q in rows]
    projects = {
        int(i): (str(n), o)
        for i, n, o in await Project.filter(id__in=project_ids).values_list(
            "id", "name", "owner_id"
        )
    }
    owner_ids = [o for _n, o in projects.values() if o is not None]
    owners = dict(await User.filter(id__in=owner_ids).values_list("id", "username"))
    described = []
    for q in rows:
        name, owner = projects.get(q.project_id, ("", None))
        described.append(
            QuotaInfo(
                q.id,
                q.project_id,
                name,
                str(owners.get(owner, "")),
                int(q.hard),
                int(q.used),
                q.created_at,
                q.updated_at,
            )
        )
    return described
