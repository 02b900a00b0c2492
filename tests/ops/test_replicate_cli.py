"""`berth replicate POLICY [--wait]` as a user runs it, on a SQLite data folder.

The command only writes the execution; the server's workers carry it out. No server runs
here: where --wait needs the execution to end, the test plays the engine (FAKE ENGINE below),
writing tasks and finishing the execution through core.replication_runs as the
`replication` pipeline does."""

from __future__ import annotations

import asyncio
import getpass
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.factories import OCI_MANIFEST, push_image, replication_policy, unique
from tests.ops.support import BERTH, clean_env, run_berth
from tests.peers import running_distribution
from tests.support import assert_log_clean, running_berth, wait_until

T = TypeVar("T")


def on_database(folder: Path, work: Callable[[], Awaitable[T]]) -> T:
    """Run work against the folder's database (made if missing), from the test's side."""
    from models import close_database, open_database

    async def go() -> T:
        await open_database(f"sqlite://{folder / 'data' / 'berth.db'}")
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(go())


def a_policy(folder: Path) -> tuple[int, str]:
    (folder / "data").mkdir(exist_ok=True)

    async def make() -> tuple[int, str]:
        policy = await replication_policy()
        return int(policy.id), str(policy.name)

    return on_database(folder, make)


def replicate(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_berth(folder, "replicate", *args, "--data-dir", str(folder / "data"))


def test_replicate_writes_an_execution_as_the_api_does_and_prints_its_id(
    tmp_path: Path,
) -> None:
    policy_id, name = a_policy(tmp_path)
    # When the operator starts the policy by name, then by id
    by_name = replicate(tmp_path, name)
    by_id = replicate(tmp_path, str(policy_id))
    # Then each prints the new execution's id
    assert (by_name.returncode, by_name.stdout) == (0, "1\n"), by_name.stderr
    assert (by_id.returncode, by_id.stdout) == (0, "2\n"), by_id.stderr

    async def written() -> list[Any]:
        from models import AuditEvent, Job, ReplicationExecution

        execution = await ReplicationExecution.get(id=1)
        job = await Job.get(id=execution.job_id)
        events = await AuditEvent.filter(resource_type="replication").order_by("id")
        return [execution, job, events]

    execution, job, events = on_database(tmp_path, written)
    # a manual execution by berth-cli:<OS user>, with its job for the server's workers
    operator = f"berth-cli:{getpass.getuser()}"
    assert (execution.policy_id, execution.trigger, execution.status) == (
        policy_id, "manual", "InProgress",
    )  # fmt: skip
    assert execution.operator == operator
    assert (job.kind, job.status, job.args) == ("replication", "pending", {"execution_id": 1})
    # and audited as the command's user
    assert [(e.operation, e.resource, e.username) for e in events] == [
        ("create", f"replication execution 1 of {name}", operator),
        ("create", f"replication execution 2 of {name}", operator),
    ]


def test_an_unknown_policy_exits_1_saying_so(tmp_path: Path) -> None:
    a_policy(tmp_path)
    done = replicate(tmp_path, "no-such-rule")
    assert done.returncode == 1 and done.stdout == ""
    assert "no replication policy is named 'no-such-rule'" in done.stderr


def fake_engine(folder: Path, outcome: dict[str, int], failure: str = "") -> None:
    """FAKE ENGINE (no server, no remote registry here): wait for the command's execution,
    then write one finished task per entry of outcome (name -> bytes, or -1 for a failure)
    and end the execution with its events through core.replication_runs and
    core.replication_events, as pipelines/replication.py does."""

    async def first_execution() -> int | None:
        from models import ReplicationExecution

        row = await ReplicationExecution.first()
        return int(row.id) if row is not None else None

    execution_id = wait_until(
        "the command writes its execution", lambda: on_database(folder, first_execution), 20
    )

    async def run() -> None:
        from core import replication_events, replication_runs
        from core.events import transaction
        from models import ReplicationExecution, ReplicationPolicy, ReplicationTask

        for name, size in outcome.items():
            await ReplicationTask.create(
                execution_id=execution_id,
                src_resource=name,
                dst_resource=name,
                status="Failed" if size < 0 else "Succeed",
                bytes=max(size, 0),
            )
            await replication_runs.refresh_counts(execution_id)
        execution = await ReplicationExecution.get(id=execution_id)
        policy = await ReplicationPolicy.get(id=execution.policy_id)
        async with transaction() as tx:
            ended = await replication_runs.end(tx, execution_id, failure)
            assert ended is not None
            artifacts = await replication_events.replicated_artifacts(ended, policy, tx)
            await replication_events.emit_replication_finished(tx, ended, policy, artifacts)

    on_database(folder, run)


def waiting(folder: Path, policy: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BERTH, "replicate", policy, "--wait", "--data-dir", str(folder / "data")],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def ended(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def test_wait_follows_the_execution_with_bars_and_exits_0_when_it_succeeds(
    tmp_path: Path,
) -> None:
    _, name = a_policy(tmp_path)
    proc = waiting(tmp_path, name)
    try:
        fake_engine(tmp_path, {"library/a:v1": 1_500_000, "library/b:v1": 500_000})
    finally:
        status, out, err = ended(proc)
    assert status == 0, err
    assert out == (
        "replication execution 1 started\n"
        "replication execution 1: Succeed; 2 of 2 tasks succeeded, 0 failed, 0 stopped;"
        " 2000000 bytes copied\n"
    )
    assert "tasks" in err and "2/2" in err and "2.0 MB" in err  # the bars, at their end


def test_wait_exits_1_with_the_reason_when_the_execution_fails(tmp_path: Path) -> None:
    _, name = a_policy(tmp_path)
    proc = waiting(tmp_path, name)
    try:
        fake_engine(tmp_path, {"library/a:v1": 10, "library/b:v1": -1}, "1 task failed")
    finally:
        status, out, err = ended(proc)
    assert status == 1, err
    assert out.splitlines()[-1] == (
        "replication execution 1: Failed; 1 of 2 tasks succeeded, 1 failed, 0 stopped;"
        " 10 bytes copied; 1 task failed"
    )


def test_wait_follows_an_execution_the_servers_engine_carries_out(tmp_path: Path) -> None:
    # Given a running Berth holding an image, and a push policy to a Distribution
    (tmp_path / "distribution").mkdir()
    with (
        running_distribution(tmp_path / "distribution") as distribution,
        running_berth(tmp_path / "data") as server,
    ):
        digest = push_image(server, "library/app", "v1")

        async def make() -> str:
            from models import RemoteRegistry

            remote = await RemoteRegistry.create(
                name=unique("dist-"), url=distribution.url, type="docker-registry"
            )
            return str((await replication_policy(dest_registry_id=remote.id)).name)

        name = on_database(tmp_path, make)
        # When the operator starts it and waits
        done = run_berth(
            tmp_path, "replicate", name, "--wait", "--data-dir", str(tmp_path / "data"),
            timeout=60,
        )  # fmt: skip
        copied = httpx.get(
            f"{distribution.url}/v2/library/app/manifests/v1", headers={"Accept": OCI_MANIFEST}
        )
    # Then it exits 0 once the server's workers copied the image
    assert done.returncode == 0, done.stderr
    assert "Succeed; 1 of 1 tasks succeeded, 0 failed" in done.stdout
    assert copied.status_code == 200 and copied.headers["Docker-Content-Digest"] == digest
    assert_log_clean(tmp_path / "data" / "server.log", during="the replication")
