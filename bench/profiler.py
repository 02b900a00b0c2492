"""Optional py-spy sampling of the server during each step (`bench/run --profile`)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def py_spy(repo: Path) -> str | None:
    local = repo / ".venv/bin/py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class PySpyRecording:
    """py-spy record on a process tree for the life of a `with` block; raw collapsed stacks."""

    def __init__(self, binary: str, pid: int, out: Path) -> None:
        self.binary = binary
        self.pid = pid
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpyRecording:
        cmd = [self.binary, "record", "--pid", str(self.pid), "--format", "raw", "-o",
               str(self.out), "--rate", "100", "--subprocesses", "--nonblocking"]  # fmt: skip
        log = self.out.with_suffix(".log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _frames(stack: str) -> list[str]:
    """Frames of one collapsed stack, root first, without the process/thread frame and lines."""
    frames = [_LINE.sub(")", f) for f in stack.split(";")]
    return [f for f in frames if "(" in f and not f.startswith(("process ", "thread "))]


def _where(frame: str) -> str:
    return frame[frame.rindex("(") + 1 : -1]


def _package(frame: str) -> str:
    """`f (quart/wrappers/request.py)` -> `quart`; a bare file name stands for itself."""
    return _where(frame).split("/", 1)[0]


def project_files(repo: Path, skip: tuple[str, ...] = ("bench", "tests", ".venv")) -> set[str]:
    """Paths of the project's Python files, relative to the repository."""
    found = set()
    for path in repo.glob("*/**/*.py"):
        rel = path.relative_to(repo).as_posix()
        if not rel.startswith(skip):
            found.add(rel)
    return found


def _is_ours(where: str, files: set[str]) -> bool:
    # py-spy shortens a path to its shortest form below a sys.path entry, so a
    # module of a folder without __init__.py (web/v2/routes.py) shows as routes.py.
    if where in files:
        return not where.startswith("ops/cli")
    return "/" not in where and any(f.endswith("/" + where) for f in files)


def _top(counter: Counter[str], samples: int, top: int) -> list[str]:
    return [f"  {100 * n / samples:5.1f}%  {f}" for f, n in counter.most_common(top)]


def _thread(frames: list[str]) -> str:
    """The event loop's thread, or the function at the root of another thread."""
    if any(f.startswith(("Runner.run (", "run (uvloop")) for f in frames):
        return "event loop"
    roots = [f for f in frames if not f.startswith(("Thread.", "_bootstrap"))]
    return roots[0] if roots else frames[0]


def hot_spots(path: Path, project: set[str], top: int = 12) -> list[str]:
    """Shares of non-idle samples: by thread, self time by function and by package, and
    the inclusive time of the project's own functions (`project`: see project_files).

    py-spy counts a thread as busy while it is runnable, so on saturated cores a thread
    just woken from a queue wait (aiosqlite's worker, the to_thread pool) shows samples
    in its wait: read those as hand-off cost, not as work."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    samples = 0
    ours_cache: dict[str, bool] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = _frames(stack)
        if not count.isdigit() or not frames:
            continue
        n = int(count)
        samples += n
        threads[_thread(frames)] += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            where = _where(frame)
            if where not in ours_cache:
                ours_cache[where] = _is_ours(where, project)
            if ours_cache[where]:
                ours[frame] += n
    if not samples:
        return [f"no samples in {path}"]
    return [
        f"{samples} non-idle samples at 100 Hz, all threads",
        "by thread:",
        *_top(threads, samples, 4),
        "self time by function (Runner.run = the loop's C code: uvloop, syscalls):",
        *_top(own, samples, top),
        "self time by package:",
        *_top(packages, samples, top),
        "inclusive time of Berth's own functions:",
        *_top(ours, samples, top),
    ]
