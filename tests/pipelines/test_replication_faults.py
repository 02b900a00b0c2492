"""Replication through faults, one execution each: a destination killed in the middle of a
1 GiB layer and started again (the task resumes: what is sent again stays under two
chunks), a destination that answers 500 and then 429 with Retry-After for a while (the
execution succeeds, having waited as told), wrong credentials (a failed task whose log says
so). The source is this process's Berth; the destinations are a real Berth and a real
Distribution (through tests/replication/faultproxy.py where faults are injected)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import replication_runs
from core.events import transaction
from core.jobs import ClaimedJob, JobQueue
from core.service import Registry, close_registry, open_registry
from models import RemoteRegistry, ReplicationPolicy, ReplicationTask
from pipelines import PipelineContext
from pipelines.replication import CHUNK, run_execution
from storage import build_driver
from tests.gc.support import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, body, sha256
from tests.peers import running_distribution
from tests.replication.faultproxy import FaultProxy
from tests.support import ADMIN, REPO_ROOT, RunningBerth, free_port, wait_http

GIB = 1 << 30


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """The source: this process's Berth on SQLite (one database is enough here: the engine's
    database work is the same on both and is run on both in test_replication.py)."""
    storage = build_driver("filesystem", tmp_path / "storage")
    reg = await open_registry(
        storage, f"sqlite://{tmp_path / 'berth.db'}", 64 << 20, sealing_keys=[b"k" * 32]
    )
    try:
        yield reg
    finally:
        await close_registry(reg)


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    with running_distribution(Path(tmp_path_factory.mktemp("distribution"))) as server:
        yield server


async def push_image(registry: Registry, repository: str, tag: str, layer: bytes) -> str:
    project = repository.split("/", 1)[0]
    config = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    for data in (config, layer):
        await registry.uploads.upload_whole(
            repository, project, sha256(data), body(data), len(data)
        )
    manifest = _manifest(config, [(sha256(layer), len(layer))])
    return (await registry.manifests.put(repository, project, tag, manifest, OCI_MANIFEST)).digest


def _manifest(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layers],
        }
    ).encode()


async def run_policy(registry: Registry, policy: ReplicationPolicy) -> int:
    async with transaction() as tx:
        started = await replication_runs.start(tx, int(policy.id), "manual", "alice")
    execution = started.execution
    job = ClaimedJob(int(execution.job_id or 0), "replication", {"execution_id": execution.id}, 1)
    await run_execution(job, PipelineContext(registry, JobQueue("test")))
    return int(execution.id)


async def test_429_and_500_are_waited_out_as_the_destination_asks(
    registry: Registry, distribution: RunningBerth
) -> None:
    digest = await push_image(registry, "library/busy", "v1", os.urandom(5000))
    async with FaultProxy(distribution.url) as proxy:
        # Given a destination that answers 500 three times, then 429 asking for 2 s twice
        proxy.answer(500, times=3, path="/v2/library/busy/")
        proxy.answer(429, times=2, headers={"Retry-After": "2"}, path="/v2/library/busy/")
        remote = await RemoteRegistry.create(name="busy", url=proxy.url)
        policy = await ReplicationPolicy.create(
            name="to-busy", dest_registry_id=remote.id, trigger={"type": "manual"},
            filters=[{"type": "name", "value": "library/busy"}],
        )  # fmt: skip
        started = time.monotonic()
        done = await replication_runs.get(await run_policy(registry, policy))
        took = time.monotonic() - started
    # Then the execution succeeded, after at least the 4 s it was asked to wait
    assert done.status == "Succeed", done.status_text
    assert took >= 4.0
    answered = [s.status for s in proxy.seen if s.fault]
    assert answered == [500, 500, 500, 429, 429]
    # And the task's log says how it waited
    (task,) = await ReplicationTask.filter(execution_id=done.id)
    assert task.log.count("waiting 2 s as Retry-After says") == 2, task.log
    found = await http(
        "HEAD", f"{distribution.url}/v2/library/busy/manifests/v1", headers={"Accept": OCI_MANIFEST}
    )
    assert found.headers["Docker-Content-Digest"] == digest


async def test_wrong_credentials_fail_the_task_and_its_log_says_so(
    registry: Registry, tmp_path: Path
) -> None:
    await push_image(registry, "library/locked", "v1", os.urandom(1000))
    with BerthProcess(tmp_path / "dest") as destination:
        remote = await RemoteRegistry.create(
            name="locked", url=destination.url, type="harbor", access_key="admin",
            access_secret=registry.sealed().seal("not-the-password"),
        )  # fmt: skip
        policy = await ReplicationPolicy.create(
            name="to-locked", dest_registry_id=remote.id, trigger={"type": "manual"},
            filters=[{"type": "name", "value": "library/locked"}],
        )  # fmt: skip
        done = await replication_runs.get(await run_policy(registry, policy))
    assert done.status == "Failed"
    (task,) = await ReplicationTask.filter(execution_id=done.id)
    assert task.status == "Failed"
    assert "401" in task.log and "admin" in task.log, task.log


class BerthProcess:
    """`berth serve` on a port of its own that can be killed (SIGKILL, every process) and
    started again on the same port and data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BerthProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BERTH_ADMIN_PASSWORD": ADMIN[1], "BERTH_WORKERS": "1"}
        cmd = [sys.executable, "-m", "ops.cli", "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir)]  # fmt: skip
        with (self.data_dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True
            )
        wait_http(f"{self.url}/v2/", proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


async def big_layer(size: int) -> AsyncIterator[bytes]:
    """size incompressible bytes, the same each time, made as they are read (never whole
    in memory)."""
    block = random.Random(7).randbytes(1 << 20)
    for n in range(size >> 20):
        yield hashlib.sha256(n.to_bytes(8, "big")).digest() + block[32:]


async def test_a_destination_killed_mid_layer_is_resumed_not_restarted(
    registry: Registry, tmp_path: Path
) -> None:
    # Given a 1 GiB layer here
    hasher = hashlib.sha256()
    async for piece in big_layer(GIB):
        hasher.update(piece)
    layer_digest = "sha256:" + hasher.hexdigest()
    config = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    await registry.uploads.upload_whole("library/big", "library", layer_digest, big_layer(GIB), GIB)
    await registry.uploads.upload_whole(
        "library/big", "library", sha256(config), body(config), len(config)
    )
    manifest = _manifest(config, [(layer_digest, GIB)])
    digest = (
        await registry.manifests.put("library/big", "library", "v1", manifest, OCI_MANIFEST)
    ).digest
    with BerthProcess(tmp_path / "dest") as destination:
        remote = await RemoteRegistry.create(
            name="big", url=destination.url, type="harbor", access_key="admin",
            access_secret=registry.sealed().seal(ADMIN[1]),
        )  # fmt: skip
        policy = await ReplicationPolicy.create(
            name="to-big", dest_registry_id=remote.id, trigger={"type": "manual"},
            filters=[{"type": "name", "value": "library/big"}], copy_by_chunk=True,
        )  # fmt: skip
        running = asyncio.create_task(run_policy(registry, policy))
        # When the destination is killed once a third of the layer has arrived
        await _until_task_moved(GIB // 3)
        destination.kill()
        await asyncio.sleep(1)
        destination.start()
        execution_id = await asyncio.wait_for(running, 600)
        done = await replication_runs.get(execution_id)
        # Then the execution succeeded and the image pulls there by its digest
        assert done.status == "Succeed", done.status_text
        answer = await http(
            "HEAD",
            f"{destination.url}/v2/library/big/manifests/v1",
            headers={"Accept": OCI_MANIFEST}, auth=ADMIN,
        )  # fmt: skip
        assert answer.headers["Docker-Content-Digest"] == digest
    # And what was sent again is under two chunks
    (task,) = await ReplicationTask.filter(execution_id=execution_id)
    sent_again = task.bytes - GIB - len(config)
    assert 0 <= sent_again < 2 * CHUNK, task.log
    assert "resum" in task.log.lower(), task.log


async def _until_task_moved(size: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        moving = await ReplicationTask.filter(status="InProgress").values_list("bytes", flat=True)
        if any(int(b) >= size for b in moving):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no task moved {size} bytes in 300 s")


async def http(method: str, url: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, **options)
