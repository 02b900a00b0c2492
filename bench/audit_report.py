"""bench/RESULTS-audit.md: the machine, the ingest rates and the API latencies per stage."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.audit_http import Latency
from bench.audit_ingest import Ingest
from bench.report import disk, machine

INGEST_TARGET = 5000.0  # events/s
P99_TARGET = 200.0  # ms
LABELS = {"sqlite": "SQLite (FTS5)", "postgres": "PostgreSQL (full-text search)"}


@dataclass
class Stage:
    events: int  # in the log when the API was measured
    ingest: Ingest  # the events written and indexed in this stage
    latencies: list[Latency]
    facts: dict[str, str]  # database version, size, events counted


@dataclass
class BackendResult:
    backend: str
    stages: list[Stage] = field(default_factory=list)

    def total(self) -> Ingest:
        return Ingest(
            sum(s.ingest.events for s in self.stages),
            sum(s.ingest.write_seconds for s in self.stages),
            sum(s.ingest.index_seconds for s in self.stages),
        )


def machine_rows(results: list[BackendResult], load: float, repo: Path) -> list[tuple[str, str]]:
    rows = [
        r
        for r in machine(sys.executable, repo, load)
        if r[0] not in ("Distribution", "wrk", "curl")
    ]
    rows.insert(4, ("disk", disk(repo)))
    versions = {s.facts.get("version", "") for r in results for s in r.stages}
    rows.insert(
        6,
        (
            "databases",
            ", ".join(sorted(v for v in versions if v)) or f"SQLite {sqlite3.sqlite_version}",
        ),
    )
    return rows


def _n(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.{digits}f}"


def ingest_table(results: list[BackendResult]) -> tuple[list[str], list[str]]:
    lines = [
        "| backend | stage (events in the log) | events written | write s | write events/s "
        "| index s | index events/s | ingest events/s | target ≥ 5,000 | database size |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    missed = []
    for result in results:
        for stage in result.stages:
            lines.append(_ingest_row(LABELS[result.backend], f"{stage.events:,}", stage.ingest,
                                     stage.facts.get("size", "—")))  # fmt: skip
        total = result.total()
        lines.append(_ingest_row(LABELS[result.backend], "**all stages**", total, ""))
        if total.ingest_rate < INGEST_TARGET:
            missed.append(f"{result.backend}: ingest {total.ingest_rate:,.0f} events/s < 5,000")
    return lines, missed


def _ingest_row(label: str, stage: str, figures: Ingest, size: str) -> str:
    verdict = "met" if figures.ingest_rate >= INGEST_TARGET else "**missed**"
    return (
        f"| {label} | {stage} | {figures.events:,} | {figures.write_seconds:.1f} "
        f"| {figures.write_rate:,.0f} | {figures.index_seconds:.1f} | {figures.index_rate:,.0f} "
        f"| {figures.ingest_rate:,.0f} | {verdict} | {size} |"
    )


def latency_table(result: BackendResult, stage: Stage) -> tuple[list[str], list[str]]:
    lines = [
        f"#### {LABELS[result.backend]}, {stage.events:,} events",
        "",
        "| query | p50 ms | p99 ms | req/s | median matches (+: some answers "
        "counted only up to the API's count limit) | target p99 ≤ 200 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    missed = []
    for lat in stage.latencies:
        p99 = lat.percentile(0.99)
        ok = p99 is not None and p99 <= P99_TARGET and not lat.errors
        if not ok:
            missed.append(f"{result.backend} at {stage.events:,}: {lat.key} p99 {_n(p99)} ms"
                          + (f", {len(lat.errors)} errors" if lat.errors else ""))  # fmt: skip
        matches = f"{_n(lat.median_total, 0)}{'+' if lat.capped else ''}"
        lines.append(
            f"| {lat.label} | {_n(lat.percentile(0.5))} | {_n(p99)} | {_n(lat.rate)} "
            f"| {matches} | {'met' if ok else '**missed**'} |"
        )
    return lines, missed


def growth_table(results: list[BackendResult]) -> list[str]:
    """p50 and p99 of each query at the first and the last stage, and the factor."""
    lines = ["| backend | query | p50 first → last stage | p99 first → last stage | p99 × |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for result in results:
        if len(result.stages) < 2:
            continue
        first, last = result.stages[0], result.stages[-1]
        for a, b in zip(first.latencies, last.latencies, strict=True):
            pa, pb = a.percentile(0.99), b.percentile(0.99)
            factor = f"{pb / pa:.1f}" if pa and pb else "—"
            lines.append(
                f"| {result.backend} | {a.key} | {_n(a.percentile(0.5))} → {_n(b.percentile(0.5))} "
                f"| {_n(pa)} → {_n(pb)} | {factor} |"
            )
    return lines


def maintenance_notes(results: list[BackendResult]) -> list[str]:
    """What ran between ingest and the API measurement (not counted in the ingest rate)."""
    lines = []
    for result in results:
        facts = [s.facts for s in result.stages if "autovacuum" in s.facts]
        if not facts:
            continue
        spent = [f["vacuum_analyze_seconds"] for f in facts if "vacuum_analyze_seconds" in f]
        done = (
            f"`VACUUM (ANALYZE)` ran after each stage ({', '.join(spent)} s), standing in for it"
            if spent
            else "no `VACUUM (ANALYZE)` ran (`--no-analyze`): the planner had no statistics"
        )
        lines.append(
            f"- {LABELS[result.backend]}: the server's autovacuum is {facts[0]['autovacuum']}; "
            f"{done}. Not counted in the ingest rate."
        )
    return lines


def _errors(results: list[BackendResult]) -> list[str]:
    lines = []
    for result in results:
        for stage in result.stages:
            for lat in stage.latencies:
                lines += [
                    f"- {result.backend} at {stage.events:,}, {lat.key}: {e}"
                    for e in lat.errors[:3]
                ]
    return lines


def markdown(
    results: list[BackendResult], args: argparse.Namespace, load: float, repo: Path
) -> tuple[str, list[str]]:
    """The results page, and the targets missed (one line each)."""
    rows = machine_rows(results, load, repo)
    ingest_lines, missed = ingest_table(results)
    out = [
        "# Audit log benchmark: Berth's embedded search backends",
        "",
        f"`bench/run-audit` with {args.events:,} generated events over {args.days:g} days, "
        f"stages {args.stages}, "
        f"{args.requests} requests per query from {args.clients} concurrent clients signed in "
        f"with {'the session cookie' if args.auth == 'session' else 'Basic credentials'}, "
        f"bulk_create batches of {args.write_batch}, index batches of {args.index_batch}. "
        "How to run it and what the figures mean: bench/README.md, section "
        '"The audit log benchmark".',
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "## Ingest: write through Tortoise, then index with the indexing pipeline",
        "",
        *ingest_lines,
        "",
        *maintenance_notes(results),
        "",
        "## The audit search API (client-side latency, every request a different value)",
        "",
    ]
    for result in results:
        for stage in result.stages:
            lines, stage_missed = latency_table(result, stage)
            out += [*lines, ""]
            missed += stage_missed
    out += ["## Growth: the first stage against the full log", "", *growth_table(results), ""]
    errors = _errors(results)
    if errors:
        out += ["## Errors (first three per query)", "", *errors, ""]
    out += ["## Targets missed", "", *([f"- {m}" for m in missed] or ["none"]), ""]
    return "\n".join(out), missed
