"""bench/RESULTS-replication.md: the machine, each copy's time side by side, the verdict."""

from __future__ import annotations

import subprocess
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

from bench.replication_berth import BerthRun, Memory
from bench.replication_data import ImageSet
from bench.replication_skopeo import SkopeoRun
from bench.report import disk, machine

SPEED_TARGETS = {"small": 1.5, "big": 1.0}  # Berth's rate / the best skopeo rate
MEMORY_TARGET_MB = 200.0  # the replication worker's peak resident memory
BERTH = "Berth replication"


@dataclass
class Measured:
    """One copy of a set to a fresh destination."""

    set: str
    destination: str
    tool: str
    images: int
    bytes: int
    seconds: float | None = None
    api_seconds: float | None = None
    source_memory: Memory | None = None
    dest_memory: Memory | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failure: str = ""

    def absorb(self, outcome: object) -> None:
        """Take the figures of a skopeo or Berth run."""
        if isinstance(outcome, SkopeoRun):
            self.seconds = outcome.seconds
        elif isinstance(outcome, BerthRun):
            self.seconds, self.api_seconds = outcome.seconds, outcome.api_seconds
            self.source_memory, self.dest_memory = outcome.source_memory, outcome.dest_memory
            self.counts, self.failure = outcome.counts, outcome.failure

    @property
    def ok(self) -> bool:
        return not self.failure and bool(self.seconds)

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.ok and self.seconds else None

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / 1e6 / self.seconds if self.ok and self.seconds else None


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def best_skopeo(results: list[Measured], set_name: str, destination: str) -> Measured | None:
    runs = [
        r
        for r in results
        if r.set == set_name and r.destination == destination and r.tool != BERTH and r.ok
    ]
    return min(runs, key=lambda r: r.seconds or 0, default=None)


def ratio(results: list[Measured], berth: Measured) -> float | None:
    base = best_skopeo(results, berth.set, berth.destination)
    if not (base and base.seconds and berth.ok and berth.seconds):
        return None
    return base.seconds / berth.seconds


def table(results: list[Measured]) -> list[str]:
    lines = [
        "| set | to | how | images | time (s) | images/s | MB/s | × best skopeo "
        "| execution's own time (s) | source Berth tree RSS: before / peak (MB) "
        "| its largest process: before / peak (MB) "
        "| destination Berth peak tree (MB) | result |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for r in results:
        mem = r.source_memory
        tree = f"{mem.idle_mb:.0f} / {mem.tree_peak_mb:.0f}" if mem else "—"
        largest = f"{mem.idle_process_mb:.0f} / {mem.process_peak_mb:.0f}" if mem else "—"
        dest = _num(r.dest_memory.tree_peak_mb, 0) if r.dest_memory else "—"
        times = ratio(results, r) if r.tool == BERTH else None
        lines.append(
            f"| {r.set} | {r.destination} | {r.tool} | {r.images} | {_num(r.seconds, 2)} "
            f"| {_num(r.images_per_s)} | {_num(r.mb_per_s)} | {_num(times, 2)} "
            f"| {_num(r.api_seconds, 2)} | {tree} | {largest} | {dest} "
            f"| {r.failure or 'every tag, same digest'} |"
        )
    return lines


def verdicts(results: list[Measured]) -> list[str]:
    out = []
    for r in (r for r in results if r.tool == BERTH):
        target = SPEED_TARGETS[r.set]
        times = ratio(results, r)
        met = times is not None and times >= target
        out.append(
            f"- {r.set} images to {r.destination}: {_num(times, 2)}× the best skopeo "
            f"(target ≥ {target}: {'met' if met else 'MISSED'})."
        )
        if r.source_memory:
            peak = r.source_memory.process_peak_mb
            ok = peak < MEMORY_TARGET_MB
            out.append(
                f"- memory, {r.set} to {r.destination}: the largest source Berth process peaked "
                f"at {peak:.0f} MB (target < {MEMORY_TARGET_MB:.0f}: {'met' if ok else 'MISSED'})."
            )
    return out


def missed_targets(results: list[Measured]) -> bool:
    return any("MISSED" in line for line in verdicts(results))


def _command(cmd: list[str]) -> list[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ["unavailable"]
    return out.stdout.rstrip().splitlines()


def machine_section(python: str, repo: Path, load: float) -> list[str]:
    rows = [r for r in machine(python, repo, load) if r[0] not in ("wrk", "curl")]
    rows.insert(4, ("disk (bench/.work)", disk(repo / "bench")))
    rows.insert(6, ("skopeo", " ".join(_command(["skopeo", "--version"])[:1])))
    lscpu = [
        line
        for line in _command(["lscpu"])
        if line.split(":")[0] in ("Model name", "CPU(s)", "Thread(s) per core", "CPU MHz")
    ]
    return [
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "```",
        *lscpu,
        *_command(["free", "-m"]),
        "```",
    ]


def markdown(
    results: list[Measured],
    sets: dict[str, ImageSet],
    args: Namespace,
    load: float,
    repo: Path,
    python: str,
    berth_missing: str,
) -> str:
    """The whole RESULTS-replication.md text."""
    quick = " --quick" if args.quick else ""
    described = "; ".join(
        f"{s.name}: {s.count} image(s) in {len(s.images)} repositories, "
        f"{s.bytes / 1e6:,.1f} MB, pushed to the source in {s.push_seconds:.1f} s"
        for s in sets.values()
    )
    out = [
        "# Replication benchmark: Berth next to skopeo",
        "",
        f"Written by `bench/run-replication{quick}`; do not edit by hand. How it runs and what "
        'the figures mean: bench/README.md, section "The replication benchmark".',
        "",
        f"Sets: {described}. skopeo copy runs {args.parallel} processes at a time for the "
        "small images.",
        "",
        "## Machine",
        "",
        *machine_section(python, repo, load),
        "",
        "## Copies (each to a fresh destination, checked tag by tag)",
        "",
        *table(results),
        "",
        "## Verdict",
        "",
        *(verdicts(results) or [f"- Berth not measured: {berth_missing or 'skopeo only'}."]),
    ]
    failures = [r for r in results if r.failure]
    if failures:
        out += ["", "## Failed copies", ""]
        out += [f"- {r.set} to {r.destination} by {r.tool}: {r.failure}" for r in failures]
    return "\n".join(out) + "\n"
