"""`berth serve`'s processes: bind once, start the servers, announce only when they all started.

The parent binds the listening socket itself, without SO_REUSEPORT, so a second server on the
same address fails to bind instead of splitting the traffic; every server process shares that
one socket. A server process that fails while starting reports why over a pipe, and the parent
stops the others and exits non-zero: a failed start never looks like a running server. With
several server processes the parent is ops.processes' lean supervisor (it execs itself).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Callable
from functools import partial
from typing import Any, NoReturn

from hypercorn.config import Config, Sockets

from models.errors import AlreadyExists, Unavailable

log = logging.getLogger("berth.serve")


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


def server_process_main() -> None:
    """The body of one server process that ops.processes started (see its docstring)."""
    import os
    import pickle

    from ops.processes import orders_of_server_process

    _die_with_parent()
    config_bytes, sock_fd, stop_fd, ready_fd = orders_of_server_process()
    said: list[bool] = []

    def report(problem: str | None) -> None:
        if not said:
            said.append(True)
            os.write(ready_fd, ((problem or "").replace("\n", " ") + "\n").encode())
            os.close(ready_fd)

    try:
        import uvloop

        config = pickle.loads(config_bytes)
        sock = socket.socket(fileno=sock_fd)
        from ops.asgi import app  # settings, logging and the app, from the environment

        trigger = partial(_parent_said_stop, stop_fd)
        uvloop.run(_serve(app, config, sockets(config, sock), report, trigger))
    except Exception as exc:
        log.exception("server process failed")
        report(f"{type(exc).__name__}: {exc}")
        exit_now(1)


async def _parent_said_stop(stop_fd: int) -> None:
    """Return once the supervisor closed its end of the stop pipe (it turns readable: EOF)."""
    loop = asyncio.get_running_loop()
    said = asyncio.Event()
    loop.add_reader(stop_fd, said.set)
    try:
        await said.wait()
    finally:
        loop.remove_reader(stop_fd)


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
