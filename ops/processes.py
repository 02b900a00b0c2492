"""`berth serve`'s supervisor for several server processes: a lean process that only watches.

The `berth` command has imported the whole CLI, the settings and the database layer by the
time the server runs (some 68 MB); as the parent of the server processes it would keep all
of that for the server's life. So, once the socket is bound and the database prepared, it
replaces itself (exec, same pid) with this module, which imports nothing but the standard
library (~10 MB). The server processes are started as plain subprocesses, not through
multiprocessing, whose spawn start method runs one more Python (its resource tracker).

What the processes share: the listening socket (one inherited descriptor), one stop pipe (the
supervisor holds the write end; its EOF tells every server process to stop) and one ready
pipe per process (it writes one line once started: empty when it serves, else why not).
"""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from typing import Any, NoReturn

STARTUP_SECONDS = 90.0  # every server process has started, or the start failed
STOP_SECONDS = 15.0  # after this, a server process that does not stop is killed
_SUPERVISE = "BERTH_SUPERVISE"  # the supervisor's orders, in its environment
_CHILD = "BERTH_SERVER_PROCESS"  # a server process's, in its environment
Children = list[tuple[subprocess.Popen[bytes], int, str]]  # the process, its ready pipe, name


def become_supervisor(config: Any, sock_fd: int, count: int, said: str) -> NoReturn:
    """Exec this module in place of the current process (the pid stays)."""
    os.set_inheritable(sock_fd, True)
    orders = (pickle.dumps(config), sock_fd, count, said, [p for p in sys.path if p])
    env = {**os.environ, _SUPERVISE: base64.b64encode(pickle.dumps(orders)).decode()}
    sys.stdout.flush()
    sys.stderr.flush()
    code = "from ops.processes import supervise; supervise()"
    os.execve(sys.executable, [sys.executable, "-c", _with_path(code)], env)


def _with_path(code: str) -> str:
    return f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; {code}"


def supervise() -> NoReturn:
    """Start the server processes, announce, and wait; exit 0 when stopped by SIGTERM/SIGINT,
    1 when one failed to start or exited unasked."""
    orders = base64.b64decode(os.environ.pop(_SUPERVISE))
    config, sock_fd, count, said, _path = pickle.loads(orders)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the children: ^C reaches us only
    stop_r, stop_w = os.pipe()
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        _close(stop_w)

    children: Children = []
    try:
        for index in range(count):
            ready_r, ready_w = os.pipe()
            given = base64.b64encode(pickle.dumps((config, sock_fd, stop_r, ready_w))).decode()
            code = _with_path("from ops.serving import server_process_main; server_process_main()")
            proc = subprocess.Popen(
                [sys.executable, "-c", code, f"berth-server-{index + 1}"],
                pass_fds=(sock_fd, stop_r, ready_w),
                env={**os.environ, _CHILD: given},
                stdin=subprocess.DEVNULL,
            )
            os.close(ready_w)
            children.append((proc, ready_r, f"berth-server-{index + 1}"))
        os.close(stop_r)
        os.close(sock_fd)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        problem = _await_start(children, stopping)
        if problem is not None:
            _stop_and_exit(children, stop_w, 1, problem)
        if not stopping:
            print(said, file=sys.stderr, flush=True)
            _wait_any(children, stopping)
        if not stopping:
            ended = [f"{n} (status {p.returncode})" for p, _, n in children if p.poll() is not None]
            _stop_and_exit(
                children, stop_w, 1, f"server process {', '.join(ended)} exited unasked: stopping"
            )
        _stop_and_exit(children, stop_w, 0)
    except BaseException:
        _stop_and_exit(children, stop_w, 1)


def _await_start(children: Children, stopping: list[int]) -> str | None:
    """None when every process said it started (or a stop signal came), else what failed."""
    pending = {ready: (proc, name) for proc, ready, name in children}
    deadline = time.monotonic() + STARTUP_SECONDS
    while pending and not stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"the server processes did not start within {STARTUP_SECONDS:.0f} s"
        readable, _, _ = select.select(list(pending), [], [], min(left, 0.5))
        for ready in readable:
            proc, name = pending.pop(ready)
            line = os.read(ready, 65536)
            os.close(ready)
            if not line:  # died before it could say
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(1)
                status = proc.returncode
                return f"server process {name} failed to start: it exited with status {status}"
            message = line.decode("utf-8", "replace").rstrip("\n")
            if message:
                return f"server process {name} failed to start: {message}"
    return None


def _wait_any(children: Children, stopping: list[int]) -> None:
    """Until a stop signal or the exit of any server process (any exit ends the server)."""
    while not stopping:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return
        for proc, _, _ in children:
            if proc.pid == pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return


def _stop_and_exit(
    children: Children, stop_w: int, status: int, problem: str | None = None
) -> NoReturn:
    """Stop every server process, then say why (the last line) and exit with status."""
    _close(stop_w)
    deadline = time.monotonic() + STOP_SECONDS
    for proc, _, _ in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc, _, name in children:
        if proc.poll() is None:
            print(f"berth: {name} did not stop in time: killed", file=sys.stderr, flush=True)
            proc.kill()
            proc.wait(5)
    if problem is not None:
        print(f"berth: {problem}", file=sys.stderr, flush=True)
    os._exit(status)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):  # already closed
        os.close(fd)


def orders_of_server_process() -> tuple[bytes, int, int, int]:
    """What the supervisor gave this server process: (pickled config, socket, stop, ready)."""
    config, sock_fd, stop_r, ready_w = pickle.loads(base64.b64decode(os.environ.pop(_CHILD)))
    return config, sock_fd, stop_r, ready_w
