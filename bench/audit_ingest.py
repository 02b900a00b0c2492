"""Writing generated events the way Berth writes them, then indexing them the way it does.

Writes go through Tortoise (`AuditEvent.bulk_create`, as the pull log flushes its batches);
indexing runs the indexing pipeline's own step (`pipelines.audit.index_batch`) on a
Registry from `core.service.open_registry`, until no event is left pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.audit_data import EventSource
from core.service import AuditOptions, Registry, close_registry, open_registry
from models import AuditEvent, Project, fetch
from pipelines.audit import index_batch
from storage import build_driver


@dataclass
class Ingest:
    """One stage: events written and indexed, and the seconds each took."""

    events: int
    write_seconds: float
    index_seconds: float

    @property
    def write_rate(self) -> float:
        return self.events / self.write_seconds if self.write_seconds else 0.0

    @property
    def index_rate(self) -> float:
        return self.events / self.index_seconds if self.index_seconds else 0.0

    @property
    def ingest_rate(self) -> float:
        spent = self.write_seconds + self.index_seconds
        return self.events / spent if spent else 0.0


async def open_bench_registry(url: str, data_dir: Path, batch: int) -> Registry:
    """A Registry as `berth serve` builds one (schema, `library`, the audit index prepared)."""
    storage = build_driver("filesystem", data_dir / "storage")
    return await open_registry(storage, url, 64 << 20, AuditOptions(batch=batch))


async def project_ids(names: list[str]) -> dict[str, int]:
    """Create the world's projects (safe to repeat) and map their names to ids."""
    rows = [Project(name=name, public=name == "library") for name in names]
    await Project.bulk_create(rows, ignore_conflicts=True)
    return {p.name: p.id for p in await Project.filter(name__in=names)}


async def write_events(
    source: EventSource, until: int, ids: dict[str, int], batch: int, log: Callable[[str], None]
) -> float:
    """Write events up to number `until` in batches; the seconds spent in Berth's code
    (building the model objects and the insert), without generating the values."""
    spent = 0.0
    next_report = source.made + 100_000
    for rows in source.batches(batch, until):
        started = time.perf_counter()
        events = [AuditEvent(project_id=ids.get(row["project"]), **row) for row in rows]
        await AuditEvent.bulk_create(events)
        spent += time.perf_counter() - started
        if source.made >= next_report:
            log(f"    written {source.made:,} ({source.made / max(spent, 1e-9) / 1:,.0f}/s so far)")
            next_report += 100_000
    return spent


async def index_all(registry: Registry, log: Callable[[str], None]) -> tuple[float, int]:
    """Run the indexing step until nothing is pending; (seconds, events indexed)."""
    started = time.perf_counter()
    done = 0
    next_report = 100_000
    while count := await index_batch(registry):
        done += count
        if done >= next_report:
            rate = done / (time.perf_counter() - started)
            log(f"    indexed {done:,} ({rate:,.0f}/s so far)")
            next_report += 100_000
    return time.perf_counter() - started, done


async def ingest(
    url: str,
    data_dir: Path,
    source: EventSource,
    until: int,
    *,
    write_batch: int,
    index_batch_size: int,
    log: Callable[[str], None] = print,
) -> Ingest:
    """One stage: write events up to `until`, then index everything pending."""
    registry = await open_bench_registry(url, data_dir, index_batch_size)
    try:
        ids = await project_ids(source.world.projects)
        before = source.made
        write_seconds = await write_events(source, until, ids, write_batch, log)
        log(f"    wrote {source.made - before:,} events in {write_seconds:.1f} s")
        index_seconds, indexed = await index_all(registry, log)
        log(f"    indexed {indexed:,} events in {index_seconds:.1f} s")
        return Ingest(source.made - before, write_seconds, index_seconds)
    finally:
        await close_registry(registry)


async def database_facts(url: str) -> dict[str, str]:
    """The database's version and size, and how many events it holds."""
    from models import close_database, open_database

    await open_database(url, create_schema=False)
    try:
        (count,) = (await fetch("SELECT COUNT(*) FROM audit_event"))[0]
        if url.startswith("sqlite://"):
            import sqlite3

            path = Path(url.removeprefix("sqlite://"))
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
            return {
                "version": f"SQLite {sqlite3.sqlite_version}",
                "size": _mb(size),
                "events": str(count),
            }
        (version,) = (await fetch("SHOW server_version"))[0]
        (used,) = (await fetch("SELECT pg_database_size(current_database())"))[0]
        return {
            "version": f"PostgreSQL {version}",
            "size": _mb(int(str(used))),
            "events": str(count),
        }
    finally:
        await close_database()


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"
