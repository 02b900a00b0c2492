"""Start, probe and stop the two registries, and sample their memory from /proc."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Berth's first admin; pushes sign in with it, pulls of the public `library` stay anonymous.
BERTH_ADMIN = ("admin", "Bench-Admin-Pass-1")
Credentials = tuple[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def distribution_config(root: Path, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


@dataclass
class Server:
    """A registry process we started, in its own process group."""

    label: str
    command: list[str]
    data_dir: Path
    log_path: Path
    port: int
    cwd: Path | None = None
    env: dict[str, str] | None = None
    push_auth: Credentials | None = None  # Basic credentials sent on every push request
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(self.env or {})},
        )
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(self.base + "/v2/", timeout=2):
                    return
            except urllib.error.HTTPError as err:
                if err.code == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.label} did not answer /v2/ within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        """SIGTERM our process group, then SIGKILL it after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session made the child its group leader
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def distribution(work: Path, logs: Path) -> Server:
    port = free_port()
    data = work / "distribution-data"
    config = work / "distribution.yml"
    config.write_text(distribution_config(data, port))
    cmd = ["docker-registry", "serve", str(config)]
    return Server("Distribution", cmd, data, logs / "distribution.log", port)


def berth(work: Path, logs: Path, repo: Path, python: str) -> Server:
    """Berth as `ops.cli serve`; its log level is set to error like Distribution's.

    Pushes need an account, so the first admin gets a known password and every push
    request carries it as Basic credentials (resolved from a short-lived cache in Berth).
    """
    port = free_port()
    data = work / "berth-data"
    listen = f"127.0.0.1:{port}"
    cmd = [python, "-m", "ops.cli", "serve", "--listen", listen, "--data-dir", str(data)]
    env = {
        "BERTH_LOG_LEVEL": os.environ.get("BERTH_LOG_LEVEL", "error"),
        "BERTH_ADMIN_PASSWORD": BERTH_ADMIN[1],
    }
    return Server(
        "Berth", cmd, data, logs / "berth.log", port, cwd=repo, env=env, push_auth=BERTH_ADMIN
    )


@dataclass
class FeatureRun:
    """One run of a one-feature bench (signing, content trust): a fresh Berth in a work
    folder of its own, its logs beside, the load and the clock at the start."""

    work_root: Path
    work: Path
    python: str
    server: Server
    load: float
    started: float

    def finish(self, results: Any, text: str, path: Path, failed: bool) -> int:
        """Write the report (and the raw results beside it), print it; the exit status."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        raw = json.dumps(asdict(results), indent=1, default=str)
        (self.work_root / "last-results.json").write_text(raw)
        print(text)
        print(f"wrote {path} in {(time.time() - self.started) / 60:.1f} min")
        return 1 if failed else 0


def feature_run(work_root: Path, repo: Path) -> FeatureRun:
    """A fresh Berth to measure, under work_root (its logs in work_root/logs)."""
    from bench.gc_drive import python_of  # gc_drive imports this module

    load, started = os.getloadavg()[0], time.time()
    work = work_root / time.strftime("run-%Y%m%d-%H%M%S")
    logs = work_root / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    python = python_of(repo)
    return FeatureRun(work_root, work, python, berth(work, logs, repo, python), load, started)


def process_tree(root: int) -> list[int]:
    """PIDs of root and all its descendants, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_rss(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


class RssSampler:
    """Samples the RSS of a process tree every `interval` seconds; keeps the peak."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.root))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
