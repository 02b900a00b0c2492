"""Berth's side: a push-mode policy on the source Berth, run through Harbor's API as a user
would (register the destination, create the policy, start an execution, poll it), timed
from the start request to the poll that sees `Succeed`, with the memory of the Berth
processes sampled from /proc all along."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.replication_data import ImageSet
from bench.servers import BERTH_ADMIN, PAGE_SIZE, Server, process_tree

FINAL = frozenset({"Succeed", "Failed", "Stopped"})
POLL = 0.1


@dataclass
class Memory:
    """Peak resident memory of a process tree: of the whole tree, and of its largest process
    (a job runs inside one server process, so that one is the replication worker)."""

    idle_mb: float = 0.0
    idle_process_mb: float = 0.0  # the largest process before the run
    tree_peak_mb: float = 0.0
    process_peak_mb: float = 0.0
    samples: int = 0


@dataclass
class BerthRun:
    destination: str
    images: int
    status: str = "not run"
    seconds: float | None = None  # start request to the poll that saw the final state
    api_seconds: float | None = None  # the execution's own start_time -> end_time
    counts: dict[str, int] = field(default_factory=dict)
    source_memory: Memory = field(default_factory=Memory)
    dest_memory: Memory | None = None
    failure: str = ""


class MemorySampler:
    """Samples a process tree every 50 ms on a thread; keeps the peaks."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.memory = Memory(*_tree(root))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree, largest = _tree(self.root)
            self.memory.tree_peak_mb = max(self.memory.tree_peak_mb, tree)
            self.memory.process_peak_mb = max(self.memory.process_peak_mb, largest)
            self.memory.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _tree(root: int) -> tuple[float, float]:
    """(sum, largest) resident MB of root and its descendants."""
    sizes = []
    for pid in process_tree(root):
        try:
            sizes.append(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / 1e6)
        except (OSError, IndexError, ValueError):
            continue
    return sum(sizes), max(sizes, default=0.0)


def api(source: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{source.base}/api/v2.0", auth=BERTH_ADMIN, timeout=60)


def available(source: Server) -> str:
    """'' when the source Berth has the replication API, else why not."""
    with api(source) as client:
        for path in ("/registries", "/replication/policies", "/replication/executions"):
            status = client.get(path).status_code
            if status != 200:
                return f"GET /api/v2.0{path} answered {status}: no replication API in this Berth"
    return ""


def _created(client: httpx.Client, path: str, body: dict[str, Any]) -> int:
    resp = client.post(path, json=body)
    if resp.status_code != 201:
        raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:500]}")
    return int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def policy_to(client: httpx.Client, dest: Server, images: ImageSet, label: str) -> int:
    """Register the destination and a manual push-mode policy copying exactly the set."""
    registry: dict[str, Any] = {
        "name": label,
        "url": dest.base,
        "type": "harbor" if dest.label == "Berth" else "docker-registry",
        "insecure": True,
    }
    if dest.push_auth:
        key, secret = dest.push_auth
        registry["credential"] = {"type": "basic", "access_key": key, "access_secret": secret}
    registry_id = _created(client, "/registries", registry)
    return _created(
        client,
        "/replication/policies",
        {
            "name": label,
            "dest_registry": {"id": registry_id},
            "filters": [{"type": "name", "value": images.pattern()}],
            "trigger": {"type": "manual"},
            "override": True,
            "enabled": True,
        },
    )


def replicate(source: Server, dest: Server, images: ImageSet, timeout: float) -> BerthRun:
    """One execution of a fresh policy from the source to dest, timed and sampled."""
    run = BerthRun(dest.label, images.count)
    assert source.proc is not None and dest.proc is not None
    with api(source) as client:
        label = f"bench-{images.name}-{dest.label.lower()}-{dest.port}"
        policy = policy_to(client, dest, images, label)
        dest_sampler = MemorySampler(dest.proc.pid) if dest.label == "Berth" else None
        with MemorySampler(source.proc.pid) as sampler:
            if dest_sampler:
                dest_sampler.__enter__()
            try:
                started = time.perf_counter()
                execution = _created(client, "/replication/executions", {"policy_id": policy})
                final = _wait(client, execution, timeout)
                run.seconds = time.perf_counter() - started
            finally:
                if dest_sampler:
                    dest_sampler.__exit__()
        run.source_memory = sampler.memory
        run.dest_memory = dest_sampler.memory if dest_sampler else None
    run.status = str(final.get("status"))
    run.api_seconds = _api_seconds(final)
    run.counts = {k: int(final.get(k) or 0) for k in ("total", "succeed", "failed", "stopped")}
    if run.status != "Succeed":
        run.failure = f"execution {execution} ended {run.status}: {final.get('status_text', '')}"
    return run


def _wait(client: httpx.Client, execution: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(f"/replication/executions/{execution}")
        if resp.status_code != 200:
            raise RuntimeError(f"GET execution {execution}: {resp.status_code} {resp.text[:300]}")
        body = dict(resp.json())
        if body.get("status") in FINAL:
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"execution {execution} still {body.get('status')} after {timeout} s"
            )
        time.sleep(POLL)


def _api_seconds(execution: dict[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(execution["start_time"]))
        end = datetime.fromisoformat(str(execution["end_time"]))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()
