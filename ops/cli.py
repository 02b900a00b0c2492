"""The `berth` command line."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ops.audit_cli import audit_cli
from ops.logging import configure_logging
from ops.settings import Settings, load_settings

if TYPE_CHECKING:
    from core.service import Registry

cli = typer.Typer(help="Berth, an enterprise container registry.", no_args_is_help=True)
project_cli = typer.Typer(help="Manage projects.", no_args_is_help=True)
uploads_cli = typer.Typer(help="Manage upload sessions.", no_args_is_help=True)
cli.add_typer(project_cli, name="project")
cli.add_typer(uploads_cli, name="uploads")
cli.add_typer(audit_cli, name="audit")
console = Console(stderr=True)

Listen = Annotated[str | None, typer.Option(help="HOST:PORT to listen on [env BERTH_LISTEN]")]
DataDir = Annotated[Path | None, typer.Option(help="data folder [env BERTH_DATA_DIR]")]


def _settings(listen: str | None = None, data_dir: Path | None = None) -> Settings:
    settings = load_settings(listen=listen, data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


@cli.command()
def serve(
    listen: Listen = None,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None, typer.Option(help="server processes [env BERTH_WORKERS]")
    ] = None,
) -> None:
    """Run the registry and its API on hypercorn."""
    from hypercorn.config import Config

    settings = _settings(listen, data_dir)
    configure_logging(settings.log_level)
    config = Config()
    config.bind = [settings.listen]
    config.keep_alive_timeout = 75
    config.h11_max_incomplete_size = 64 * 1024
    config.worker_class = "uvloop"
    config.errorlog = logging.getLogger("hypercorn.error")  # our JSON lines, not its own
    config.accesslog = None  # the app logs each request with its request id
    count = workers or settings.server_processes
    asyncio.run(_prepare(settings))
    console.print(
        f"Berth listening on http://{settings.listen} with {count} server process(es)"
        f" (data in {settings.data_dir})"
    )
    if count > 1:
        _serve_processes(config, settings, count)
        return
    _serve_single(config, settings)


async def _prepare(settings: Settings, keep_open: bool = False) -> Registry:
    """Open the database, creating the schema and `library` if they are missing."""
    from access.users import UserService
    from core.service import close_registry, open_registry
    from models import refresh_statistics
    from storage import build_driver

    storage = build_driver(settings.storage.driver, settings.storage_root)
    registry = await open_registry(
        storage, settings.db_url, settings.uploads.flush_every_bytes, settings.audit_options
    )
    await refresh_statistics()
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = await UserService().bootstrap_admin(given)
    if generated:
        console.print(
            f"[bold]First start: the system administrator is [green]admin[/green] with password "
            f"[green]{generated}[/green][/bold] (shown once; change it after signing in)"
        )
    if not keep_open:
        await close_registry(registry)
    return registry


def _serve_single(config: object, settings: Settings) -> None:
    import uvloop
    from hypercorn.asyncio import serve as hypercorn_serve

    from ops.jobs import jobs_factory
    from web.app import create_app

    app = create_app(settings, jobs_factory(settings))
    uvloop.run(hypercorn_serve(app, config))  # type: ignore[arg-type]


def _serve_processes(config: object, settings: Settings, count: int) -> None:
    from hypercorn.run import run

    os.environ["BERTH_LISTEN"] = settings.listen
    os.environ["BERTH_DATA_DIR"] = str(settings.data_dir.resolve())
    config.application_path = "ops.asgi:app"  # type: ignore[attr-defined]
    config.workers = count  # type: ignore[attr-defined]
    run(config)  # type: ignore[arg-type]


@project_cli.command("create")
def project_create(
    name: str,
    public: Annotated[bool, typer.Option(help="anyone may pull")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a project (repositories are named <project>/<name>)."""
    from core.names import validate_name
    from core.projects import create_project
    from core.service import close_registry

    validate_name(f"{name}/x")
    settings = _settings(data_dir=data_dir)

    async def run() -> None:
        await _prepare(settings, keep_open=True)
        try:
            await create_project(name, public)
        finally:
            await close_registry()

    asyncio.run(run())
    console.print(f"project {name} ready")


@uploads_cli.command("purge")
def uploads_purge(
    older_than: Annotated[int, typer.Option(help="seconds since the last chunk")] = 24 * 3600,
    data_dir: DataDir = None,
) -> None:
    """Remove abandoned upload sessions and their bytes."""
    from core.service import close_registry

    settings = _settings(data_dir=data_dir)

    async def run() -> int:
        registry = await _prepare(settings, keep_open=True)
        try:
            return await registry.uploads.purge_stale(timedelta(seconds=older_than))
        finally:
            await close_registry()

    console.print(f"removed {asyncio.run(run())} abandoned uploads")


jobs_cli = typer.Typer(help="Background jobs: list, follow, enqueue.")
cli.add_typer(jobs_cli, name="jobs")
FINAL_STATES = ("succeeded", "failed")


@cli.command()
def worker(
    data_dir: DataDir = None,
    threads: Annotated[int | None, typer.Option(help="job threads [env BERTH_JOB_THREADS]")] = None,
) -> None:
    """Run jobs from the Redis broker until SIGTERM / SIGINT (start any number, anywhere)."""
    from storage import build_driver
    from workers.process import WorkerConfig, run_worker

    settings = _settings(data_dir=data_dir)
    configure_logging(settings.log_level)
    url = settings.broker_url
    if not url or not url.startswith(("redis://", "rediss://", "unix://")):
        console.print(
            "[red]berth worker needs a Redis broker: set BERTH_BROKER_URL=redis://HOST:PORT/DB"
            " (without one, `berth serve` runs jobs itself)[/red]"
        )
        raise typer.Exit(2)
    config = WorkerConfig(
        url,
        settings.broker_namespace,
        settings.db_url,
        settings.uploads.flush_every_bytes,
        threads or settings.job_threads,
        settings.job_lease_seconds,
        settings.job_backoff_seconds,
        settings.audit_options,
    )
    console.print(f"Berth worker on {settings.broker_namespace} with {config.threads} thread(s)")
    run_worker(config, build_driver(settings.storage.driver, settings.storage_root))


async def _with_database(settings: Settings, work: Any) -> Any:
    from models import close_database, open_database

    await open_database(settings.db_url)
    try:
        return await work()
    finally:
        await close_database()


@jobs_cli.callback(invoke_without_command=True)
def jobs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, running, succeeded, failed")] = None,
    kind: Annotated[str | None, typer.Option(help="job kind, e.g. push")] = None,
    limit: Annotated[int, typer.Option(help="newest N jobs")] = 50,
    data_dir: DataDir = None,
) -> None:
    """List jobs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from models import Job

    filters = {k: v for k, v in {"status": status, "kind": kind}.items() if v}

    async def rows() -> list[Job]:
        return await Job.filter(**filters).order_by("-id").limit(limit)

    table = Table("id", "kind", "status", "attempts", "progress", "updated", "last error")
    for job in asyncio.run(_with_database(_settings(data_dir=data_dir), rows)):
        error = (job.last_error or "").splitlines()[0][:60] if job.last_error else ""
        table.add_row(
            str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
            f"{job.progress:.0%}", job.updated_at.strftime("%Y-%m-%d %H:%M:%S"), error,
        )  # fmt: skip
    Console().print(table)


@jobs_cli.command("follow")
def jobs_follow(
    job_id: int,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.5,
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

    job = asyncio.run(_with_database(_settings(data_dir=data_dir), follow))
    if job is None:
        console.print(f"[red]no job {job_id}[/red]")
        raise typer.Exit(2)
    if job.status == "failed":
        console.print(f"[red]job {job_id} failed: {job.last_error}[/red]")
        raise typer.Exit(1)
    console.print(f"job {job_id} succeeded after {job.attempts} attempt(s)")


@jobs_cli.command("enqueue")
def jobs_enqueue(
    kind: str,
    args: Annotated[str, typer.Option(help="job arguments as a JSON object")] = "{}",
    max_attempts: Annotated[int, typer.Option(help="attempts before it fails")] = 5,
    data_dir: DataDir = None,
) -> None:
    """Add a job; a running `berth serve` dispatches it."""
    import json

    from core.jobs import enqueue

    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--args is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter("--args must be a JSON object")

    async def add() -> int:
        return await enqueue(kind, parsed, max_attempts)

    job_id = asyncio.run(_with_database(_settings(data_dir=data_dir), add))
    Console().print(job_id)


@cli.command()
def scrub(
    data_dir: DataDir = None,
    rate: Annotated[int, typer.Option(help="bytes per second to re-hash (0: unbounded)")] = 64
    << 20,
) -> None:
    """Enqueue a scrub job: re-hash stored blobs, fail the manifests of corrupt ones."""
    from core.jobs import enqueue

    async def add() -> int:
        return await enqueue("scrub", {"rate": rate})

    job_id = asyncio.run(_with_database(_settings(data_dir=data_dir), add))
    Console().print(f"scrub job {job_id} enqueued")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
