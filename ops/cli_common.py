"""What every `berth` command shares: settings or a one-line refusal, the database, the output."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console

from ops.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from core.service import Registry

T = TypeVar("T")
# soft_wrap: a line longer than the terminal (or any line into a pipe, where rich assumes 80
# columns) is never broken, so a printed password or URL stays whole.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
BAD_SETTING = 2  # the exit status of a refused setting or argument (as click uses)


def described(name: str, text: str, default: str | None = None) -> str:
    """Help text naming the BERTH_* variable and the default the option stands for."""
    field = Settings.model_fields[name]
    shown = default if default is not None else field.default
    return f"{text} [env BERTH_{name.upper()}; default: {shown}]"


DataDir = Annotated[
    Path | None,
    typer.Option(metavar="DIR", help=described("data_dir", "data folder", "./data")),
]


def fail(lines: list[str], code: int) -> NoReturn:
    """Print each line as `berth: ...` on stderr and exit with code."""
    for line in lines:
        print(f"berth: {line}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or one line per bad setting and exit status 2, before anything starts."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(exc.lines, BAD_SETTING)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail([f"cannot create the data folder {settings.data_dir}: {exc.strerror or exc}"], 1)
    return settings


def operator() -> str:
    """Who the audit log names for a change made here: `berth-cli:` and the OS user running
    the command. No Berth account can be named so (usernames may not hold ":"), so the
    event is never mistaken for one a user made over the API."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        who = f"uid {os.getuid()}"
    return f"berth-cli:{who}"


def shown_url(url: str) -> str:
    """A database or broker URL with its password hidden."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run_on_database(settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(work()); a database that cannot be opened is one line and exit status 1."""
    from models.errors import BerthError

    try:
        return asyncio.run(work())
    except BerthError as exc:
        fail([exc.message], BAD_SETTING if exc.kind == "invalid input" else 1)
    except (OSError, ConnectionError, TimeoutError) as exc:
        fail([f"cannot open the database {shown_url(settings.db_url)}: {exc}"], 1)
    except Exception as exc:
        if type(exc).__module__.startswith(("tortoise", "asyncpg", "sqlite3", "aiosqlite")):
            fail([f"cannot use the database {shown_url(settings.db_url)}: {exc}"], 1)
        raise


async def prepare(settings: Settings, keep_open: bool = False) -> Registry:
    """Open the database, creating the schema and `library` if they are missing."""
    from access.users import UserService
    from core.service import close_registry, open_registry
    from models import refresh_statistics

    try:
        sealing_keys = settings.sealing_keys()
    except OSError as exc:
        fail([f"cannot make the secret key in {settings.keys_dir}: {exc}"], 1)
    storage = settings.storage_driver()
    registry = await open_registry(
        storage,
        settings.db_url,
        settings.uploads.flush_every_bytes,
        settings.audit_options,
        settings.gc.window,
        sealing_keys,
    )
    await refresh_statistics()
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = await UserService().bootstrap_admin(given)
    if generated:
        console.print(
            f"[bold]First start: the system administrator is [green]admin[/green] with password "
            f"[green]{generated}[/green][/bold] (shown once; change it after signing in)",
        )
    if not keep_open:
        await close_registry(registry)
    return registry


async def with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from models import close_database, open_database

    await open_database(settings.db_url)
    try:
        return await work()
    finally:
        await close_database()


def with_registry(settings: Settings, work: Callable[[Registry], Awaitable[T]]) -> T:
    """Run work on the opened registry (schema and admin created if missing)."""
    from core.service import close_registry

    async def run() -> T:
        registry = await prepare(settings, keep_open=True)
        try:
            return await work(registry)
        finally:
            await close_registry(registry)

    return run_on_database(settings, run)
