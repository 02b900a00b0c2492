"""`berth jobs`: list, follow and enqueue background jobs (a running server dispatches them)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ops.cli_common import DataDir, fail, out, run_on_database, settings_or_exit, with_database

if TYPE_CHECKING:
    from models import Job

jobs_cli = typer.Typer(help="Background jobs: list, follow, enqueue.", rich_markup_mode=None)
FINAL_STATES = ("succeeded", "failed")


def known_kinds() -> list[str]:
    """The job kinds a pipeline runs: those registered by @pipeline(kind)."""
    from pipelines import PIPELINES, load_pipelines

    load_pipelines()
    return sorted(PIPELINES)


@jobs_cli.callback(invoke_without_command=True)
def jobs_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(metavar="S", help="pending, running, succeeded, failed")
    ] = None,
    kind: Annotated[str | None, typer.Option(metavar="K", help="job kind, e.g. push")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="newest N jobs", min=1)] = 50,
    data_dir: DataDir = None,
) -> None:
    """List jobs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from models import Job

    filters = {k: v for k, v in {"status": status, "kind": kind}.items() if v}
    settings = settings_or_exit(data_dir=data_dir)

    async def rows() -> list[Job]:
        return await Job.filter(**filters).order_by("-id").limit(limit)

    table = Table("id", "kind", "status", "attempts", "progress", "updated", "last error")
    for job in run_on_database(settings, lambda: with_database(settings, rows)):
        error = (job.last_error or "").splitlines()[0][:60] if job.last_error else ""
        table.add_row(
            str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
            f"{job.progress:.0%}", job.updated_at.strftime("%Y-%m-%d %H:%M:%S"), error,
        )  # fmt: skip
    Console().print(table)


@jobs_cli.command("follow")
def jobs_follow(
    job_id: int,
    interval: Annotated[
        float, typer.Option(metavar="SECONDS", help="seconds between polls", min=0.05)
    ] = 0.5,
    data_dir: DataDir = None,
) -> None:
    """Show a job's progress until it succeeds or fails (exit 1 when it fails)."""
    from models import Job

    async def follow() -> Job | None:
        from rich.progress import Progress

        with Progress(console=Console()) as bar:
            task = bar.add_task(f"job {job_id}", total=1.0)
            while (job := await Job.get_or_none(id=job_id)) is not None:
                bar.update(task, completed=job.progress, description=f"{job.kind} {job.id}"
                           f" [{job.status}]")  # fmt: skip
                if job.status in FINAL_STATES:
                    return job
                await asyncio.sleep(interval)
        return None

    settings = settings_or_exit(data_dir=data_dir)
    job = run_on_database(settings, lambda: with_database(settings, follow))
    if job is None:
        fail([f"no job {job_id}"], 2)
    if job.status == "failed":
        fail([f"job {job_id} failed: {job.last_error}"], 1)
    print(f"job {job_id} succeeded after {job.attempts} attempt(s)", file=sys.stderr)


@jobs_cli.command("enqueue")
def jobs_enqueue(
    kind: Annotated[str, typer.Argument(help="a job kind: berth jobs kinds lists them")],
    args: Annotated[
        str, typer.Option(metavar="JSON", help="job arguments as a JSON object")
    ] = "{}",
    max_attempts: Annotated[
        int, typer.Option(metavar="N", help="attempts before it fails", min=1)
    ] = 5,
    data_dir: DataDir = None,
) -> None:
    """Add a job; a running `berth serve` dispatches it."""
    from core.jobs import enqueue

    kinds = known_kinds()
    if kind not in kinds:
        fail([f"unknown job kind {kind!r}; known kinds: {', '.join(kinds)}"], 2)
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        fail([f"--args is not JSON: {exc}"], 2)
    if not isinstance(parsed, dict):
        fail(["--args must be a JSON object"], 2)
    settings = settings_or_exit(data_dir=data_dir)
    job_id = run_on_database(
        settings, lambda: with_database(settings, lambda: enqueue(kind, parsed, max_attempts))
    )
    out.print(job_id)


@jobs_cli.command("kinds")
def jobs_kinds() -> None:
    """List the job kinds `berth jobs enqueue` accepts."""
    for kind in known_kinds():
        print(kind)
