"""`berth replicate POLICY [--wait]`: start a replication policy now, from the command line.

The command writes the execution and its `replication` job to the server's database, as
`POST /api/v2.0/replication/executions` does (trigger manual, operator `berth-cli:<OS user>`,
its audit event in the same transaction); the server's workers carry it out. With --wait it
follows the execution row — a bar of the tasks done out of the total and the bytes copied —
and exits 0 when it Succeed, 1 when it Failed or was Stopped (printing why).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from ops.cli_common import (
    DataDir,
    console,
    operator,
    out,
    run_on_database,
    settings_or_exit,
    with_database,
)

if TYPE_CHECKING:
    from models import ReplicationExecution

POLL_SECONDS = 0.5  # the execution row is read this often while waiting

Wait = Annotated[
    bool, typer.Option("--wait", help="follow the execution to its end; exit 1 unless it Succeed")
]


def replicate(
    policy: Annotated[str, typer.Argument(metavar="POLICY", help="the policy's name or id")],
    wait: Wait = False,
    data_dir: DataDir = None,
) -> None:
    """Start a replication policy now (manual trigger); the server's workers carry it out.
    Prints the execution's id; with --wait, follows it and exits 0 when it Succeed, 1 when
    it Failed or was Stopped."""
    settings = settings_or_exit(data_dir=data_dir)

    async def work() -> ReplicationExecution:
        execution = await start(policy)
        if not wait:
            return execution
        out.print(f"replication execution {execution.id} started", markup=False)
        return await follow(int(execution.id))

    execution = run_on_database(settings, lambda: with_database(settings, work))
    if not wait:
        out.print(str(execution.id), markup=False)
        return
    out.print(summary(execution), markup=False)
    raise typer.Exit(0 if execution.status == "Succeed" else 1)


async def start(policy: str) -> ReplicationExecution:
    """The execution, written as the API writes it, its event naming the command's user."""
    import services.replication
    from core import audit

    audit.begin_request(None, "berth replicate")
    audit.identify(operator())
    return await services.replication.start_here(policy, operator())


async def follow(execution_id: int) -> ReplicationExecution:
    """Read the execution until it ends (one whose worker went silent is failed by the
    read: core.replication_runs.get), showing its tasks and bytes as bars."""
    from core import replication_runs

    with ExecutionBars() as bars:
        while True:
            execution = await replication_runs.get(execution_id)
            bars.show(execution)
            if execution.status in replication_runs.FINAL:
                return execution
            await asyncio.sleep(POLL_SECONDS)


def summary(execution: ReplicationExecution) -> str:
    text = (
        f"replication execution {execution.id}: {execution.status}; {execution.succeed} of"
        f" {execution.total} tasks succeeded, {execution.failed} failed, {execution.stopped}"
        f" stopped; {execution.bytes} bytes copied"
    )
    return f"{text}; {execution.status_text}" if execution.status_text else text


class ExecutionBars:
    """An execution's progress as rich bars on stderr: tasks done / total, bytes copied."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<6}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            console=console,
        )
        self.tasks: TaskID | None = None
        self.bytes: TaskID | None = None

    def __enter__(self) -> ExecutionBars:
        self.progress.start()
        self.tasks = self.progress.add_task("tasks", total=None, amount="planning")
        self.bytes = self.progress.add_task("bytes", total=None, amount=decimal(0))
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.refresh()
        self.progress.stop()

    def show(self, execution: ReplicationExecution) -> None:
        done = execution.succeed + execution.failed + execution.stopped
        if self.tasks is not None:
            total = execution.total or None
            amount = f"{done}/{execution.total}" if total else "planning"
            self.progress.update(self.tasks, completed=done, total=total, amount=amount)
        if self.bytes is not None:
            amount = decimal(execution.bytes)
            self.progress.update(self.bytes, completed=execution.bytes, amount=amount)
