"""`berth audit`: rebuild the search index from the database, purge old events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ops.cli_common import DataDir, settings_or_exit, with_registry

if TYPE_CHECKING:
    from core.service import Registry

audit_cli = typer.Typer(
    help="The audit log: re-index, purge.", no_args_is_help=True, rich_markup_mode=None
)
T = TypeVar("T")


def _with_registry(data_dir: Path | None, work: Callable[[Registry], Awaitable[T]]) -> T:
    return with_registry(settings_or_exit(data_dir=data_dir), work)


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
    older_than_days: Annotated[
        int, typer.Option(metavar="N", help="remove events older than this", min=1)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only count what would be removed")
    ] = False,
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
