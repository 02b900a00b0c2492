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

from ops.logging import configure_logging
from ops.settings import Settings, load_settings

if TYPE_CHECKING:
    from core.service import Registry

cli = typer.Typer(help="Berth, an enterprise container registry.", no_args_is_help=True)
project_cli = typer.Typer(help="Manage projects.", no_args_is_help=True)
uploads_cli = typer.Typer(help="Manage upload sessions.", no_args_is_help=True)
cli.add_typer(project_cli, name="project")
cli.add_typer(uploads_cli, name="uploads")
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
    from storage import build_driver

    storage = build_driver(settings.storage.driver, settings.storage_root)
    registry = await open_registry(storage, settings.db_url, settings.uploads.flush_every_bytes)
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = await UserService().bootstrap_admin(given)
    if generated:
        console.print(
            f"[bold]First start: the system administrator is [green]admin[/green] with password "
            f"[green]{generated}[/green][/bold] (shown once; change it after signing in)"
        )
    if not keep_open:
        await close_registry()
    return registry


def _jobs(settings: Settings) -> Any:
    from workers.runtime import server_jobs

    return server_jobs(settings.broker_url, settings.broker_namespace, settings.job_threads)


def _serve_single(config: object, settings: Settings) -> None:
    import uvloop
    from hypercorn.asyncio import serve as hypercorn_serve

    from web.app import create_app

    app = create_app(settings, _jobs(settings))
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
