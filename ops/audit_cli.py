"""`berth audit`: rebuild the search index from the database, purge old events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from core.service import Registry

audit_cli = typer.Typer(help="The audit log: re-index, purge.", no_args_is_help=True)
DataDir = Annotated[Path | None, typer.Option(help="data folder [env BERTH_DATA_DIR]")]
T = TypeVar("T")


def _with_registry(data_dir: Path | None, work: Callable[[Registry], Awaitable[T]]) -> T:
    from core.service import close_registry
    from ops.cli import _prepare, _settings

    async def run() -> T:
        registry = await _prepare(_settings(data_dir=data_dir), keep_open=True)
        try:
            return await work(registry)
        finally:
            await close_registry(registry)

    return asyncio.run(run())


@audit_cli.command()
def reindex(data_dir: DataDir = None) -> None:
    """Rebuild the search backend from the database (the source of truth)."""
    from core import audit
    from models import AuditEvent
    from pipelines.audit import index_batch

    async def work(registry: Registry) -> int:
        index = registry.audit_index
        await index.clear()
        await index.prepare()
        total = await AuditEvent.all().count()
        await audit.mark_all_unindexed()
        done = 0
        columns = (TextColumn("re-indexing"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=Console()) as bar:
            task = bar.add_task("events", total=total)
            while count := await index_batch(registry):
                done += count
                bar.update(task, completed=min(done, total))
        return done

    count = _with_registry(data_dir, work)
    Console().print(f"re-indexed {count} audit events")


@audit_cli.command()
def purge(
    older_than_days: Annotated[int, typer.Option(help="remove events older than this", min=1)],
    dry_run: Annotated[bool, typer.Option(help="only count what would be removed")] = False,
    data_dir: DataDir = None,
) -> None:
    """Remove old events from the database and the search backend."""
    from core import audit
    from pipelines.audit import purge as purge_events

    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)

    async def work(registry: Registry) -> int:
        if dry_run:
            return await audit.count_before(cutoff)
        return await purge_events(registry, cutoff)

    count = _with_registry(data_dir, work)
    verb = "would remove" if dry_run else "removed"
    since = cutoff.isoformat(timespec="seconds")
    Console().print(f"{verb} {count} audit events older than {since}")
