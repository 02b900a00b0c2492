"""`berth gc`: collect garbage now, in this process, with a progress bar per phase; and the
run `berth serve` starts when gc.on_start is set.

The command creates a run (trigger CLI) under the same one-at-a-time rule as the API and the
schedule, and carries it out through pipelines.gc.execute, the function a worker's job uses:
its log, results and audit event are the same, and `GET /api/v2.0/system/gc` lists it.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from ops.cli_common import DataDir, console, out, settings_or_exit, with_registry

if TYPE_CHECKING:
    from core.gc_runs import GcParameters
    from core.service import Registry
    from models import JobRun
    from ops.settings import Settings

DryRun = Annotated[bool, typer.Option("--dry-run", help="only report what a collection would free")]
DeleteUntagged = Annotated[
    bool,
    typer.Option("--delete-untagged", help="also delete manifests that no tag keeps alive"),
]
Check = Annotated[
    bool,
    typer.Option("--check", help="only compare blob rows with storage and report what differs"),
]
Repair = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="with --check: adopt orphan files, forget lost blobs, finish interrupted deletions",
    ),
]
GraceSeconds = Annotated[
    int,
    typer.Option(metavar="SECONDS", min=0, help="with --check: leave files younger than this"),
]
Workers = Annotated[
    int | None,
    typer.Option(
        metavar="N", min=1, max=10, help="parallel sweepers, 1..10 [env BERTH_GC__WORKERS; 1]"
    ),
]


def gc(
    dry_run: DryRun = False,
    delete_untagged: DeleteUntagged = False,
    workers: Workers = None,
    check: Check = False,
    repair: Repair = False,
    grace_seconds: GraceSeconds = 600,
    data_dir: DataDir = None,
) -> None:
    """Collect garbage now: blobs no manifest names (untouched for gc.window_seconds) and,
    with --delete-untagged, untagged manifests. Exit 0 when it succeeded, 1 when it failed
    or another collection is running, 2 for a bad option. With --check: compare blob rows
    with storage instead (exit 1 while anything differs), --repair fixes what it can."""
    from core.gc_runs import GcParameters
    from ops.gc_check_cli import run_check

    if repair and not check:
        console.print("--repair goes with --check", markup=False)
        raise typer.Exit(2)
    if check:
        if dry_run or delete_untagged or workers is not None:
            console.print("--check takes only --repair and --grace-seconds", markup=False)
            raise typer.Exit(2)
        raise typer.Exit(run_check(repair, grace_seconds, data_dir))

    settings = settings_or_exit(data_dir=data_dir)
    count = settings.gc.workers if workers is None else workers
    parameters = GcParameters(delete_untagged, dry_run, count)

    async def work(registry: Registry) -> JobRun:
        return await collect_here(registry, parameters)

    run = with_registry(settings, work)
    out.print(summary(run), markup=False)
    raise typer.Exit(0 if run.status == "Success" else 1)


async def collect_here(registry: Registry, parameters: GcParameters) -> JobRun:
    """A CLI run, carried out here with progress bars; GcRunning while another is active."""
    from core import audit, gc_runs
    from pipelines.gc import execute, interrupted

    run = await gc_runs.create(gc_runs.CLI, parameters, audit.SYSTEM, enqueue_job=False)
    try:
        with PhaseBars() as bars:
            return await execute(registry, int(run.id), bars)
    except asyncio.CancelledError:  # ^C: asyncio.run cancels this task
        await interrupted(int(run.id))
        raise


def summary(run: JobRun) -> str:
    results = run.results or {}
    verb = "would free" if run.parameters.get("dry_run") else "freed"
    return (
        f"garbage collection {run.id}: {run.status}; {verb} {results.get('bytes', 0)} bytes"
        f" ({results.get('blobs', 0)} blobs, {results.get('manifests', 0)} manifests,"
        f" {results.get('uploads', 0)} uploads)"
    )


class PhaseBars:
    """pipelines.gc.GcWatcher as rich progress bars on stderr, one per phase."""

    def __init__(self) -> None:
        columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn())
        self.progress = Progress(*columns, console=console)
        self.task: TaskID | None = None

    def __enter__(self) -> PhaseBars:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._complete()
        self.progress.stop()

    async def phase(self, name: str, total: int | None) -> None:
        self._complete()
        self.task = self.progress.add_task(name, total=total)

    async def advance(self, count: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, count)

    async def line(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def _complete(self) -> None:
        """The phase that ends: a bar without a total gets what it counted as its total."""
        if self.task is None:
            return
        task = self.progress.tasks[self.task]
        if task.total is None:
            self.progress.update(self.task, total=task.completed)
        self.progress.refresh()


async def start_on_serve(settings: Settings) -> None:
    """gc.on_start: one run (trigger START) for the server's jobs to carry out; a line, and
    nothing else, when one is running already."""
    from core import audit, gc_runs
    from core.gc import GcRunning

    parameters = gc_runs.GcParameters(workers=settings.gc.workers)
    try:
        run = await gc_runs.create(gc_runs.START, parameters, audit.SYSTEM)
    except GcRunning as exc:
        console.print(f"gc.on_start: {exc.message}; not starting another", markup=False)
        return
    console.print(f"gc.on_start: garbage collection {run.id} queued", markup=False)
