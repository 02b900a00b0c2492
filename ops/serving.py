"""`berth serve`'s processes: bind once, start the servers, announce only when they all started.

The parent binds the listening socket itself, without SO_REUSEPORT, so a second server on the
same address fails to bind instead of splitting the traffic; every server process shares that
one socket. A server process that fails while starting reports why over a pipe, and the parent
stops the others and exits non-zero: a failed start never looks like a running server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time
from collections.abc import Callable, Sequence
from functools import partial
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn

from hypercorn.config import Config, Sockets

from models.errors import AlreadyExists, Unavailable

log = logging.getLogger("berth.serve")
STARTUP_SECONDS = 90.0  # every server process has started, or the start failed
STOP_SECONDS = 15.0  # after this, a server process that does not stop is killed


class AddressInUse(AlreadyExists):
    def __init__(self, listen: str) -> None:
        super().__init__(
            f"address already in use: {listen} is taken by another server (another Berth or"
            " another program); choose another with --listen HOST:PORT or BERTH_LISTEN=HOST:PORT"
        )


class StartFailed(Unavailable):
    """The server did not start; the message says why."""


def bind(listen: str, backlog: int) -> socket.socket:
    """The listening socket every server process shares."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restart bind over connections in TIME_WAIT; it does not let two
    # listeners share the port on Linux (SO_REUSEPORT would, and is deliberately not set).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, int(port)))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(listen) from None
        raise StartFailed(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    except (socket.gaierror, UnicodeError) as exc:
        sock.close()
        raise StartFailed(f"cannot listen on {listen}: {exc}") from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def sockets(config: Config, sock: socket.socket) -> Sockets:
    """The one socket, as hypercorn's secure socket (TLS with config's certificate and key) when
    the config has them, else as its plain one: a TLS port speaks nothing else."""
    if config.ssl_enabled:
        return Sockets([sock], [], [])
    return Sockets([], [sock], [])


class Announcing:
    """ASGI middleware that reports the end of the app's start-up (complete or failed)."""

    def __init__(self, app: Any, report: Callable[[str | None], None]) -> None:
        self.app = app
        self.report = report  # None: started; a message: failed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def watched(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.report(None)
            elif message["type"] == "lifespan.startup.failed":
                self.report(message.get("message") or "the app failed to start")
            await send(message)

        await self.app(scope, receive, watched)


def serve_here(app: Any, config: Config, sock: socket.socket, announce: Callable[[], None]) -> None:
    """One server process: this one. SIGTERM / SIGINT stop it gracefully."""
    import uvloop

    failure: list[str] = []

    def report(problem: str | None) -> None:
        if problem:
            failure.append(problem)
        else:
            announce()

    try:
        uvloop.run(_serve(app, config, sockets(config, sock), report, None))
    except Exception as exc:
        problem = failure[0] if failure else f"{type(exc).__name__}: {exc}"
        raise StartFailed(f"the server failed to start: {problem}") from None


async def _serve(
    app: Any,
    config: Config,
    sockets: Sockets,
    report: Callable[[str | None], None],
    trigger: Callable[[], Any] | None,
) -> None:
    from hypercorn.app_wrappers import ASGIWrapper
    from hypercorn.asyncio.run import worker_serve

    from models import close_database

    wrapped = ASGIWrapper(Announcing(app, report))
    try:
        await worker_serve(wrapped, config, sockets=sockets, shutdown_trigger=trigger)
    except BaseException:
        # A start hook that failed half-way leaves the database open, and its connection
        # thread would keep the process alive: close it (the app's stop hook never runs).
        await close_database()
        raise


def serve_processes(
    config: Config, sock: socket.socket, count: int, announce: Callable[[], None]
) -> None:
    """count server processes (ops.asgi:app each) on the shared socket, until SIGTERM/SIGINT.
    StartFailed when one fails to start or one exits unasked."""
    ctx = get_context("spawn")  # fresh interpreters: no forked event loop, threads or locks
    # The stop signal is the end of a pipe (every child sees EOF once the parent closes its
    # end), not a multiprocessing Event: a semaphore would start multiprocessing's resource
    # tracker, one more Python process (~13 MB) for the whole life of the server.
    stop_reader, stop_writer = ctx.Pipe(duplex=False)
    # The children inherit SIGINT ignored: a terminal's ^C reaches the group, and only this
    # process decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        stop_writer.close()

    processes, pipes = [], []
    try:
        for index in range(count):
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_server_process,
                args=(config, sockets(config, sock), stop_reader, writer),
                name=f"berth-server-{index + 1}",
            )
            process.start()
            writer.close()
            processes.append(process)
            pipes.append(reader)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        _await_start(processes, pipes, stopping)
        if not stopping:
            announce()
            wait([p.sentinel for p in processes])  # any exit ends the server
        if not stopping:
            ended = [f"{p.name} (status {p.exitcode})" for p in processes if not p.is_alive()]
            raise StartFailed(f"server process {', '.join(ended)} exited unasked: stopping")
    finally:
        stop_writer.close()
        _reap(processes)


def _await_start(
    processes: Sequence[BaseProcess], pipes: list[Connection], stopping: list[int]
) -> None:
    """Return when every process reported it started (or a stop signal came); else raise."""
    pending = {pipe: process for pipe, process in zip(pipes, processes, strict=True)}
    deadline = time.monotonic() + STARTUP_SECONDS
    while pending and not stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StartFailed(f"the server processes did not start within {STARTUP_SECONDS:.0f} s")
        for ready in wait(list(pending), timeout=min(left, 0.5)):
            assert isinstance(ready, Connection)
            process = pending.pop(ready)
            try:
                problem = ready.recv()
            except EOFError:  # died before it could say
                process.join(1)
                problem = f"it exited with status {process.exitcode}"
            if problem is not None:
                raise StartFailed(f"server process {process.name} failed to start: {problem}")


def _reap(processes: Sequence[BaseProcess]) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            log.warning("server process did not stop in time: killed", extra={"pid": process.pid})
            process.kill()
            process.join(5)


def _server_process(
    config: Config, sockets: Sockets, shutdown: Connection, pipe: Connection
) -> None:
    """The body of one spawned server process."""
    _die_with_parent()
    said: list[bool] = []

    def report(problem: str | None) -> None:
        if not said:
            said.append(True)
            pipe.send(problem)

    try:
        import uvloop

        from ops.asgi import app  # settings, logging and the app, from the environment

        trigger = partial(_parent_said_stop, shutdown)
        uvloop.run(_serve(app, config, sockets, report, trigger))
    except Exception as exc:
        log.exception("server process failed")
        report(f"{type(exc).__name__}: {exc}")
        exit_now(1)


async def _parent_said_stop(shutdown: Connection) -> None:
    """Return once the parent closed its end of the stop pipe (the pipe turns readable: EOF)."""
    loop = asyncio.get_running_loop()
    said = asyncio.Event()
    loop.add_reader(shutdown.fileno(), said.set)
    try:
        await said.wait()
    finally:
        loop.remove_reader(shutdown.fileno())


def exit_now(status: int) -> NoReturn:
    """Exit without waiting for threads a failed start may have left running (a job runtime's,
    a database driver's): nothing of this process is worth more than exiting promptly."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when `berth serve` dies, even by SIGKILL."""
    import ctypes
    import os

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl: nobody would send the signal
        os._exit(1)
