"""The `berth` command line."""

from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from ops.admin_cli import admin_cli
from ops.audit_cli import audit_cli
from ops.cli_common import (
    DataDir,
    console,
    described,
    fail,
    out,
    prepare,
    run_on_database,
    settings_or_exit,
    shown_url,
    with_database,
    with_registry,
)
from ops.gc_cli import gc, start_on_serve
from ops.jobs_cli import jobs_cli
from ops.keys_cli import keys_cli
from ops.logging import configure_logging
from ops.replicate_cli import replicate
from ops.sign_cli import sign, verify

if TYPE_CHECKING:
    from hypercorn.config import Config

    from core.service import Registry
    from ops.settings import Settings
    from ops.tls import TlsFiles

# Plain (click) help: rich's renderer shows `<bool>` beside flags as if they took a value and
# reads `[env ...]` in help texts as markup.
cli = typer.Typer(
    help="Berth, an enterprise container registry.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)
project_cli = typer.Typer(help="Manage projects.", no_args_is_help=True, rich_markup_mode=None)
uploads_cli = typer.Typer(
    help="Manage upload sessions.", no_args_is_help=True, rich_markup_mode=None
)
cli.add_typer(project_cli, name="project")
cli.add_typer(uploads_cli, name="uploads")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(admin_cli, name="admin")
cli.command("gc")(gc)
cli.command("replicate")(replicate)
cli.command("sign")(sign)
cli.command("verify")(verify)
cli.add_typer(keys_cli, name="keys")

Listen = Annotated[
    str | None,
    typer.Option(metavar="HOST:PORT", help=described("listen", "address to listen on")),
]
Workers = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help=described("workers", "server processes", "0, one per CPU core (at most 8)"),
    ),
]


@cli.command()
def serve(listen: Listen = None, data_dir: DataDir = None, workers: Workers = None) -> None:
    """Run the registry and its API until SIGTERM / SIGINT (^C)."""
    from ops.processes import become_supervisor
    from ops.serving import (
        AddressInUse,
        StartFailed,
        bind,
        exit_now,
        serve_here,
    )
    from ops.tls import trust_instructions

    settings = settings_or_exit(listen=listen, data_dir=data_dir, workers=workers)
    configure_logging(settings.log_level)
    config = _hypercorn_config()
    tls = _tls_files(settings)
    if tls is not None:  # hypercorn serves the secure sockets with config.create_ssl_context()
        config.certfile, config.keyfile = str(tls.cert), str(tls.key)
        # HTTP/1.1 only: Berth's request streaming (web/streaming.py: back-pressure, answers
        # before the body) is built on hypercorn's HTTP/1.1 protocol, and its HTTP/2 one
        # logs errors when a client resets a stream it still answers.
        config.alpn_protocols = ["http/1.1"]
    try:
        sock = bind(settings.listen, config.backlog)
    except (AddressInUse, StartFailed) as exc:
        fail([exc.message], 1)
    try:
        run_on_database(settings, lambda: prepare(settings))
        if settings.gc.on_start:  # the server's jobs carry it out once it serves
            run_on_database(
                settings, lambda: with_database(settings, lambda: start_on_serve(settings))
            )
        count = settings.server_processes

        scheme = "https" if tls else "http"
        said = (
            f"Berth listening on {scheme}://{settings.listen} with {count} server process(es)"
            f" (data in {settings.data_dir}, database {shown_url(settings.db_url)})"
        )
        if tls is not None:
            said += "\n" + trust_instructions(tls, settings.listen)

        def announce() -> None:
            console.print(said, markup=False)  # one write: a reader never sees half of it

        if count > 1:
            # The server processes build their settings from the environment, like ops.asgi.
            os.environ["BERTH_LISTEN"] = settings.listen
            os.environ["BERTH_DATA_DIR"] = str(settings.data_dir.resolve())
            # This process has imported the whole CLI (~68 MB): a lean supervisor takes its
            # place (same pid) for the server's life (ops/processes.py).
            become_supervisor(config, sock.fileno(), count, said)
        else:
            try:
                serve_here(_app(settings), config, sock, announce)
            except StartFailed as exc:
                print(f"berth: {exc.message}", file=sys.stderr)
                exit_now(1)  # a thread the failed start left behind must not keep us alive
    except StartFailed as exc:
        fail([exc.message], 1)
    finally:
        sock.close()


def _tls_files(settings: Settings) -> TlsFiles | None:
    """The certificate and key to serve, made first in self-signed mode; None: plain HTTP."""
    from ops.tls import TlsFiles, ensure_self_signed

    if settings.tls_mode == "files":
        assert settings.tls_cert is not None and settings.tls_key is not None
        return TlsFiles(settings.tls_cert.resolve(), settings.tls_key.resolve())
    if settings.tls_mode != "self-signed":
        return None
    try:
        return ensure_self_signed(settings.tls_dir, settings.listen_host)
    except OSError as exc:
        fail([f"cannot make the TLS certificate in {settings.tls_dir}: {exc.strerror or exc}"], 1)


def _hypercorn_config() -> Config:
    from hypercorn.config import Config

    config = Config()
    config.keep_alive_timeout = 75
    config.h11_max_incomplete_size = 64 * 1024
    config.backlog = 1024
    config.errorlog = logging.getLogger("hypercorn.error")  # our JSON lines, not its own
    config.accesslog = None  # the app logs each request with its request id
    return config


def _app(settings: Settings) -> object:
    from ops.jobs import jobs_factory
    from web.app import create_app

    return create_app(settings, jobs_factory(settings))


@project_cli.command("create")
def project_create(
    name: str,
    public: Annotated[bool, typer.Option("--public", help="anyone may pull")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a project (repositories are named <project>/<name>)."""
    from core.projects import ProjectNameInvalid, create_project, validate_project_name

    try:
        validate_project_name(name)
    except ProjectNameInvalid as exc:
        fail([exc.message], 2)
    settings = settings_or_exit(data_dir=data_dir)

    async def create(_registry: Registry) -> None:
        await create_project(name, public)

    with_registry(settings, create)
    console.print(f"project {name} ready", markup=False)


@uploads_cli.command("purge")
def uploads_purge(
    older_than: Annotated[
        int, typer.Option(metavar="SECONDS", help="seconds since the last chunk", min=0)
    ] = 24 * 3600,
    data_dir: DataDir = None,
) -> None:
    """Remove abandoned upload sessions and their bytes."""

    async def purge(registry: Registry) -> int:
        return await registry.uploads.purge_stale(timedelta(seconds=older_than))

    removed = with_registry(settings_or_exit(data_dir=data_dir), purge)
    console.print(f"removed {removed} abandoned uploads")


@cli.command()
def worker(
    data_dir: DataDir = None,
    threads: Annotated[
        int | None,
        typer.Option(metavar="N", help=described("job_threads", "job threads"), min=1),
    ] = None,
) -> None:
    """Run jobs from the Redis broker until SIGTERM / SIGINT (start any number, anywhere)."""
    from workers.process import WorkerConfig, run_worker

    settings = settings_or_exit(data_dir=data_dir)
    configure_logging(settings.log_level)
    url = settings.broker_url
    if not url:
        fail(
            [
                "berth worker needs a Redis broker: set BERTH_BROKER_URL=redis://HOST:PORT/DB"
                " (without one, `berth serve` runs jobs itself)"
            ],
            2,
        )
    config = WorkerConfig(
        url,
        settings.broker_namespace,
        settings.db_url,
        settings.uploads.flush_every_bytes,
        threads or settings.job_threads,
        settings.job_lease_seconds,
        settings.job_backoff_seconds,
        settings.audit_options,
        settings.gc.window,
        tuple(settings.sealing_keys()),
    )
    console.print(f"Berth worker on {settings.broker_namespace} with {config.threads} thread(s)")
    run_worker(config, settings.storage_driver())


@cli.command()
def scrub(
    data_dir: DataDir = None,
    rate: Annotated[
        int,
        typer.Option(metavar="BYTES", help="bytes per second to re-hash (0: unbounded)", min=0),
    ] = 64 << 20,
) -> None:
    """Enqueue a scrub job: re-hash stored blobs, fail the manifests of corrupt ones."""
    from core.jobs import enqueue

    settings = settings_or_exit(data_dir=data_dir)
    job_id = run_on_database(
        settings, lambda: with_database(settings, lambda: enqueue("scrub", {"rate": rate}))
    )
    out.print(f"scrub job {job_id} enqueued")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
