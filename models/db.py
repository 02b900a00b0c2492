"""Database start-up and shutdown, and the hot-path read helper; no business logic here."""

from __future__ import annotations

import hashlib
import sqlite3

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.transactions import in_transaction

MODEL_MODULES = [
    "models.registry",
    "models.identity",
    "models.jobs",
    "models.webhooks",
    "models.audit",
    "models.gc",
    "models.replication",
    "models.signing",
    "models.trust",
    "models.quota",
    "models.retention",
    "models.labels",
    "models.immutability",
]
# Indexes Tortoise cannot declare: partial ones. Safe to repeat.
_EXTRA_SCHEMA = (
    "CREATE INDEX IF NOT EXISTS audit_event_unindexed ON audit_event (id) WHERE NOT indexed",
    "CREATE INDEX IF NOT EXISTS blob_status_touched ON blob (status, touched_ms)",
    # which repositories hold a blob (a mount without `from`; GC's unlinking)
    "CREATE INDEX IF NOT EXISTS repository_blob_digest ON repository_blob (digest)",
    # one active signing key per project: a second made by a racing worker fails to insert
    "CREATE UNIQUE INDEX IF NOT EXISTS project_key_one_active ON project_key (project_id)"
    " WHERE status = 'active'",
    # the repositories API's pages, newest first, of one project or of all (core.repositories)
    "CREATE INDEX IF NOT EXISTS repository_project_created ON repository"
    " (project_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS repository_created ON repository (created_at, id)",
    # global labels' names are unique among them (unique_together cannot see a NULL project)
    "CREATE UNIQUE INDEX IF NOT EXISTS label_global_name ON label (name) WHERE project_id IS NULL",
)
# Columns added to tables after their first release: (table, column, definition). A
# database made before gets them at start (generate_schemas only creates missing tables).
_ADDED_COLUMNS = (
    ("blob", "touched_ms", "BIGINT NOT NULL DEFAULT 0"),
    ("blob", "gc_run", "INT"),
    ("manifest", "trust", "VARCHAR(16) NOT NULL DEFAULT 'pending'"),
    ("manifest", "trust_reason", "TEXT"),
    ("manifest", "trust_seq", "INT NOT NULL DEFAULT 0"),
    ("webhook_execution", "log", "TEXT NOT NULL DEFAULT ''"),
)

# SQLite only: a read-only connection used on the event loop itself for the pull path's
# indexed reads. Under WAL a reader never waits for a writer, and a point read costs tens
# of microseconds, less than handing the query to aiosqlite's thread and back.
_reader: sqlite3.Connection | None = None


async def open_database(url: str, create_schema: bool = True) -> None:
    """Connect Tortoise to url (sqlite://PATH or postgres://...) and create missing tables."""
    global _reader
    # Global fallback: requests run in other tasks than the start-up hook that connects.
    await Tortoise.init(db_url=url, modules={"models": MODEL_MODULES}, _enable_global_fallback=True)
    if create_schema:
        await Tortoise.generate_schemas(safe=True)
        conn = Tortoise.get_connection("default")
        await _add_columns(conn)
        for statement in _EXTRA_SCHEMA:
            await conn.execute_script(statement)
        await _fill_manifest_digests(conn)
    if url.startswith("sqlite://"):
        conn = Tortoise.get_connection("default")
        # WAL lets readers run while a writer commits; NORMAL is durable across app crashes.
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        _reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
        _reader.execute("PRAGMA query_only=1")


async def _add_columns(conn: BaseDBAsyncClient) -> None:
    for table, column, definition in _ADDED_COLUMNS:
        if conn.capabilities.dialect == "sqlite":
            present = {
                row["name"] for row in await conn.execute_query_dict(f"PRAGMA table_info({table})")
            }
        else:
            rows = await conn.execute_query_dict(
                "SELECT column_name AS name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = $1",
                [table],
            )
            present = {row["name"] for row in rows}
        if column not in present:
            await conn.execute_script(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


_ALIAS = (
    "INSERT INTO manifest_digest (repository_id, digest, manifest_id) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


async def _fill_manifest_digests(conn: BaseDBAsyncClient) -> None:
    """A database made before manifest_digest existed: every manifest is known by its
    digest, and one pushed by sha512 by its sha256 too. Only while that table is empty and
    manifests exist (one transaction, so a crash leaves it empty and the next start fills
    it). Two rows made for the same bytes before stay two: the sha256 goes to the one that
    has it as its own digest."""
    if not await conn.execute_query_dict("SELECT 1 FROM manifest LIMIT 1"):
        return
    if await conn.execute_query_dict("SELECT 1 FROM manifest_digest LIMIT 1"):
        return
    async with in_transaction() as tx:
        await tx.execute_script(
            "INSERT INTO manifest_digest (repository_id, digest, manifest_id)"
            " SELECT repository_id, digest, id FROM manifest"
        )
        others = await tx.execute_query_dict(
            "SELECT id, repository_id, content FROM manifest WHERE digest NOT LIKE 'sha256:%'"
        )
        for row in others:
            sha256 = "sha256:" + hashlib.sha256(bytes(row["content"])).hexdigest()
            await execute(_ALIAS, row["repository_id"], sha256, row["id"], using=tx)


async def refresh_statistics() -> None:
    """Sampled planner statistics for SQLite (milliseconds even at millions of rows): without
    them it picks a poor index for the audit log's filters. PostgreSQL's autovacuum keeps its
    own. Run once per start by `berth serve` and the CLI, not by every process."""
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        await conn.execute_script("PRAGMA analysis_limit=1000; ANALYZE;")


async def close_database() -> None:
    global _reader
    if _reader is not None:
        _reader.close()
        _reader = None
    await Tortoise.close_connections()
    # Tortoise caches generated SQL per connection name, not per dialect: forget it, so the
    # next open_database in this process may use another backend (tests run both).
    EXECUTOR_CACHE.clear()


async def fetch(sql: str, *params: object) -> list[tuple[object, ...]]:
    """Run one short indexed read written with `?` placeholders; rows as tuples.

    For the few hot-path reads where building an ORM query costs more than running it.
    """
    if _reader is not None:
        return _reader.execute(sql, params).fetchall()
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = _numbered_placeholders(sql)
    _count, rows = await conn.execute_query(sql, list(params))
    return [tuple(row) for row in rows]


async def execute(
    sql: str, *params: object, using: BaseDBAsyncClient | None = None
) -> list[tuple[object, ...]]:
    """Run one statement written with `?` placeholders on the write connection (or the
    transaction `using`); its rows (RETURNING) as tuples. For the set-based statements the
    ORM cannot say, such as garbage collection's compare-and-set on many rows at once."""
    conn = using or Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = _numbered_placeholders(sql)
    # execute_query_dict fetches on every backend (asyncpg's execute_query drops the
    # RETURNING rows of an UPDATE or DELETE).
    rows = await conn.execute_query_dict(sql, list(params))
    return [tuple(row.values()) for row in rows]


def _numbered_placeholders(sql: str) -> str:
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
