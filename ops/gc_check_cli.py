"""The consistency check on the command line: a progress bar on stderr, the report on stdout.

`berth gc --check [--repair]` calls run_check.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from ops.cli_common import console, out, settings_or_exit, with_registry

if TYPE_CHECKING:
    from core.gc_check import CheckReport
    from core.service import Registry

CONSISTENT, INCONSISTENT = 0, 1
GRACE_SECONDS = 600
PASSES = {"files": "files in storage", "rows": "blob rows"}


class BarProgress:
    """core.gc_check's progress as one rich bar per pass."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    async def phase(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=self.bar.tasks[-1].completed)
        self.task = self.bar.add_task(PASSES.get(name, name), total=total)

    async def advance(self, count: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, count)


def run_check(repair: bool, grace_seconds: int, data_dir: Path | None = None) -> int:
    """Check (and with repair, mend) blob rows against storage; print the report. The exit
    status: 0 when consistent or everything found was repaired, 1 when something stands.
    Safe to run while the registry serves, and to repeat."""
    from core.gc_check import check

    settings = settings_or_exit(data_dir=data_dir)

    async def work(registry: Registry) -> CheckReport:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            grace = timedelta(seconds=grace_seconds)
            return await check(registry.storage, repair, BarProgress(bar), grace)

    report = with_registry(settings, work)
    for line in report_lines(report, repair):
        out.print(line, markup=False, highlight=False)
    return CONSISTENT if report.unrepaired == 0 else INCONSISTENT


def report_lines(report: CheckReport, repair: bool) -> list[str]:
    """The report as a reader wants it: what was seen, then one line per finding."""
    lines = [f"checked {report.files} files and {report.rows} blob rows"]
    lines += [f"orphan file {o.digest} ({o.size} bytes): {o.action}" for o in report.orphans]
    for m in report.missing:
        done = "row removed" if m.repaired else ("left (changed meanwhile)" if repair else "")
        lines.append(
            f"missing file of blob {m.digest} ({m.status})" + (f": {done}" if done else "")
        )
        lines += [f"  named by {repo}@{digest}" for repo, digest in m.manifests]
    for s in report.sizes:
        lines.append(f"size of {s.digest}: {s.stored} bytes stored, {s.recorded} recorded")
    for d in report.stuck:
        state = "finished" if d.repaired else ("left" if repair else "")
        run = f"run {d.gc_run}" if d.gc_run is not None else "no run"
        lines.append(
            f"interrupted deletion of {d.digest} ({run})" + (f": {state}" if state else "")
        )
    lines += _notes(report, repair)
    return lines


def _notes(report: CheckReport, repair: bool) -> list[str]:
    notes = [f"key under blobs/ that names no blob (left alone): {k}" for k in report.foreign]
    if report.young:
        notes.append(f"{report.young} new file(s) without a row yet, inside the grace period")
    if report.missing and any(m.repaired for m in report.missing):
        notes.append("manifests naming a removed blob are marked failed; push them again")
    if report.sizes:
        notes.append("a blob of another size is corrupt: run `berth scrub`, then push it again")
    if report.findings == 0:
        notes.append("consistent")
    elif report.unrepaired == 0:
        notes.append(f"repaired {report.findings} finding(s)")
    else:
        hint = "" if repair else " (run with --repair to mend them)"
        notes.append(f"{report.unrepaired} finding(s) stand{hint}")
    return notes
