"""Helpers shared by the test suite: service requirements, bounded polling, and Berth itself,
as a real process (with its log checked for errors) or in the test's own process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
import pytest

if TYPE_CHECKING:
    from quart import Quart
    from quart.typing import TestClientProtocol

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ADMIN = ("admin", "Berth-Test-Admin-1")  # the system admin every test server starts with
REPO_ROOT = Path(__file__).resolve().parent.parent


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where nothing may silently skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)  # off CI only: under CI=true the line above fails instead


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed (make test installs it as root)")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    ca: Path | None = None,
) -> None:
    """Poll url until it answers; an https url is verified against ca (which the server may
    not have written yet when polling starts)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            httpx.get(url, timeout=1.0, verify=trusting(ca) if ca else True)
            return
        except (httpx.HTTPError, OSError) as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def trusting(ca: Path) -> ssl.SSLContext:
    """A client TLS context that trusts ca and nothing else (httpx's verify=)."""
    return ssl.create_default_context(cafile=str(ca))


def wait_until(what: str, condition: Callable[[], T | None], within: float = 30.0) -> T:
    """Poll condition until it gives something truthy (returned), for at most `within`
    seconds; then fail saying what did not happen. Instead of sleeping and hoping."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what} (last: {result!r})")
        time.sleep(0.05)


async def waited_for(
    what: str, condition: Callable[[], Awaitable[T | None]], within: float = 30.0
) -> T:
    """wait_until for a test in the server's own event loop (an in-process Berth): polls
    without blocking the loop that does the work."""
    deadline = time.monotonic() + within
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what} (last: {result!r})")
        await asyncio.sleep(0.05)


POSTGRES = "postgres://postgres@127.0.0.1:5432"


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh, empty database on the local PostgreSQL, dropped afterwards; None without one."""
    import asyncpg

    name = f"berth_test_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> bool:
        try:
            conn = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
        return True

    def run(sql: str) -> bool:  # on a thread of its own: callers may be inside an event loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, admin(sql)).result()

    if not run(f'CREATE DATABASE "{name}"'):
        yield None
        return
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class RunningBerth:
    url: str  # http://127.0.0.1:PORT, or https:// when it serves TLS
    host: str  # 127.0.0.1:PORT, as docker and skopeo name it
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]
    ca: Path | None = None  # over TLS: the CA its certificate chains to

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's verify= for this server: trust its CA (and only it) when it serves TLS."""
        return trusting(self.ca) if self.ca else True


BerthServers = Callable[[str], RunningBerth]  # the session's servers by kind (tests/conftest.py)


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate and key for `running_berth(tls=...)` to serve, and the CA that signed it."""

    cert: Path
    key: Path
    ca: Path


@contextmanager
def running_berth(
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    tls: Literal["self-signed"] | CertificateFiles | None = None,
    address: str = "127.0.0.1",
) -> Iterator[RunningBerth]:
    """Start `berth serve` as a real process on a free port of address (loopback unless
    asked); stop it afterwards. With tls, it serves HTTPS: its own CA ("self-signed", in
    <data_dir>/tls/ca.crt) or the given files; `url` says https and `ca` what to trust."""
    port = free_port()
    host = f"{address}:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"  # stderr: the JSON log lines, checked by assert_log_clean
    env = {
        **os.environ,
        "BERTH_LOG_LEVEL": "info",
        "BERTH_ADMIN_PASSWORD": ADMIN[1],
        **_tls_env(tls),
        **(extra_env or {}),
    }
    ca = data_dir / "tls" / "ca.crt" if tls == "self-signed" else tls.ca if tls else None
    url = f"{'https' if tls else 'http'}://{host}"
    cmd = [sys.executable, "-m", "ops.cli", "serve", "--listen", host, "--data-dir", str(data_dir)]
    with log.open("ab") as err, (data_dir / "server.out").open("ab") as out:
        # A session of its own: a crash test can kill the server with all its processes.
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
    try:
        wait_http(f"{url}/v2/", proc=proc, ca=ca)
        yield RunningBerth(url, host, data_dir, log, proc, ca)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tls_env(tls: Literal["self-signed"] | CertificateFiles | None) -> dict[str, str]:
    if tls is None:
        return {}
    if tls == "self-signed":
        return {"BERTH_TLS": "self-signed"}
    return {"BERTH_TLS_CERT": str(tls.cert), "BERTH_TLS_KEY": str(tls.key)}  # mean "files"


@contextmanager
def running_berth_with(
    backend: str, data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[RunningBerth]:
    """`running_berth` on a fresh database of a backend: "sqlite" (a file in data_dir), or
    "postgres" (a new database on the local PostgreSQL, skipped without one)."""
    if backend == "sqlite":
        with running_berth(data_dir, extra_env) as server:
            yield server
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        env = {**(extra_env or {}), "BERTH_DATABASE_URL": str(url)}
        with running_berth(data_dir, env) as server:
            yield server


def run_sql(server: RunningBerth, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """Seed or read a running server's database directly (its SQLite file, or the PostgreSQL
    database its environment names), with `?` placeholders; the rows it returns."""
    db = server.data_dir / "berth.db"
    if db.exists():
        values = tuple(str(a) if isinstance(a, datetime) else a for a in args)
        with sqlite3.connect(db) as conn:
            return list(conn.execute(statement, values).fetchall())
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    url = next(e for e in environ if e.startswith(b"BERTH_DATABASE_URL=")).split(b"=", 1)[1]
    parts = statement.split("?")
    numbered = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))

    async def go() -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(url.decode())
        try:
            return [tuple(r) for r in await conn.fetch(numbered, *args)]
        finally:
            await conn.close()

    return asyncio.run(go())


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


@dataclass
class InProcessBerth:
    """The app started in the test's own event loop, and Quart's test client on it."""

    app: Quart
    client: TestClientProtocol
    data_dir: Path


@asynccontextmanager
async def berth_app(
    data_dir: Path, database_url: str | None = None, **settings: Any
) -> AsyncIterator[InProcessBerth]:
    """Berth as `berth serve` builds it (schema, library, admin; embedded jobs), without a
    subprocess or a socket: for API tests that need neither."""
    from quart.testing import TestApp

    from ops.cli_common import prepare
    from ops.jobs import jobs_factory
    from ops.settings import Settings
    from web.app import create_app

    config = Settings(
        data_dir=data_dir, database_url=database_url, admin_password=ADMIN[1], **settings
    )
    await prepare(config)
    app = create_app(config, jobs_factory(config))
    # Quart's test app waits 6 s for shutdown; stopping the job workers may take up to the
    # 10 s they allow a running job (workers/runtime.py), longer on a loaded machine.
    async with TestApp(app, startup_timeout=60, shutdown_timeout=60) as started:
        yield InProcessBerth(app, started.test_client(), data_dir)


def error_lines(log: Path, offset: int = 0) -> list[str]:
    """The error-level lines of a server's log from byte offset on: JSON lines whose level
    is error or critical, and tracebacks printed past the logger. (Other plain lines are
    the console's messages, such as "Berth listening on ...".)"""
    if not log.exists():
        return []
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if "Traceback (most recent call last)" in line:
                found.append(line)
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
            found.append(line)
    return found


def assert_log_clean(log: Path, offset: int = 0, during: str = "") -> None:
    """Fail with the offending lines when a server logged an error (after byte offset)."""
    errors = error_lines(log, offset)
    if errors:
        shown = "\n".join(line[:4000] for line in errors[:20])
        where = f" during {during}" if during else ""
        pytest.fail(f"{len(errors)} error-level line(s) in {log}{where}:\n{shown}", pytrace=False)


REDIS = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def broker_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "BERTH_BROKER_URL": url,
        "BERTH_BROKER_NAMESPACE": f"berth-test-{uuid.uuid4().hex[:8]}",
        **extra,
    }


def berth_cli(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one `berth` command to completion."""
    cmd = [sys.executable, "-m", "ops.cli", *args, "--data-dir", str(data_dir)]
    full_env = {**os.environ, "BERTH_ADMIN_PASSWORD": ADMIN[1], **env}
    return subprocess.run(cmd, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True)


@contextmanager
def berth_worker(
    data_dir: Path, env: dict[str, str], name: str = "worker"
) -> Iterator[subprocess.Popen[bytes]]:
    """A `berth worker` process; stopped with SIGTERM afterwards unless it is dead already."""
    cmd = [sys.executable, "-m", "ops.cli", "worker", "--data-dir", str(data_dir)]
    with (data_dir / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_berth_on(
    data_dir: Path, broker: str, extra_env: dict[str, str] | None = None
) -> Iterator[RunningBerth]:
    """A Berth whose jobs run on the embedded broker, or on Redis with a `berth worker`."""
    if broker == "embedded":
        with running_berth(data_dir, extra_env) as server:
            yield server
        return
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    env = {**broker_env(REDIS), **(extra_env or {})}
    with running_berth(data_dir, env) as server, berth_worker(data_dir, env):
        yield server
