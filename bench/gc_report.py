"""bench/RESULTS-gc.md: the machine, the collection times, the pushes during a collection."""

from __future__ import annotations

import sqlite3
import statistics
from argparse import Namespace
from pathlib import Path

from bench.gc_push import WINDOW, PushRound
from bench.gc_steps import CollectResult
from bench.report import disk, machine

PUSH_TARGET = 0.8


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def collect_table(results: list[CollectResult]) -> list[str]:
    lines = [
        "| registry | how | workers | blobs generated | time, trigger to done (s) | the run's "
        "own record (s) | blobs freed | MB freed | blobs/s | freed, as the run reports it "
        "| reference image intact |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        out = r.outcome
        reported = ", ".join(f"{k} {v:,}" for k, v in out.results.items()) if out else ""
        lines.append(
            f"| {r.registry} | {r.mode}, {out.via if out else '—'} | {r.workers or '—'} "
            f"| {r.generated.count:,} | {_num(out.wall_seconds if out else None, 2)} "
            f"| {_num(out.run_seconds if out else None, 2)} | {r.freed_blobs:,} "
            f"| {r.freed_bytes / 1e6:,.1f} | {_num(r.blobs_per_s, 0)} | {reported or '—'} "
            f"| {'yes' if r.reference_intact else 'NO'} |"
        )
    return lines


def push_ratio(rounds: list[PushRound]) -> float | None:
    ratios = [r.ratio for r in rounds if r.valid and r.ratio is not None]
    return statistics.median(ratios) if ratios else None


def push_table(rounds: list[PushRound]) -> list[str]:
    lines = [
        "| round | order | unreferenced blobs | images/s, no collection | images/s, during a "
        "collection | ratio | blobs the collection deleted during the batch | collection "
        "still running after the last image | the collection in all (s) | blobs it freed in all |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rounds:
        wall = r.outcome.wall_seconds if r.outcome else None
        freed = r.outcome.results.get("blobs") if r.outcome else None
        lines.append(
            f"| {r.round_no} | {r.order} | {r.blobs:,} | {_num(r.baseline_ips)} "
            f"| {_num(r.during_ips)} | {_num(r.ratio, 2)} | {_num(r.deleted_during, 0)} "
            f"| {'yes' if r.still_running else 'no: not counted'} | {_num(wall)} "
            f"| {_num(freed, 0)} |"
        )
    return lines


def _vias(rounds: list[PushRound]) -> str:
    vias = sorted({r.outcome.via for r in rounds if r.outcome})
    names = {
        "API": "through the API",
        "CLI": "by `berth gc` next to the server",
        "in-process": "in-process (core.gc.collect)",
    }
    return " and ".join(names.get(v, v) for v in vias) or "—"


def _verdicts(collected: list[CollectResult], rounds: list[PushRound]) -> list[str]:
    out = []
    if rounds:
        ratio = push_ratio(rounds)
        met = ratio is not None and ratio >= PUSH_TARGET
        out.append(
            f"- Pushes during a collection, median ratio over valid rounds: "
            f"{_num(ratio, 2)} (target ≥ {PUSH_TARGET}: {'met' if met else 'MISSED'})."
        )
    for r in collected:
        if r.files_left or not r.reference_intact or (r.outcome and r.outcome.status != "Success"):
            who = f"{r.registry} ({r.workers} worker(s))" if r.workers else r.registry
            out.append(
                f"- {who}: status "
                f"{r.outcome.status if r.outcome else '—'}, {r.files_left:,} generated "
                f"blobs left, reference image intact: {r.reference_intact}."
            )
    if collected and len(out) == (1 if rounds else 0):
        out.append(
            "- Every collection freed all the generated blobs and left the reference image intact."
        )
    return out


def machine_rows(python: str, repo: Path, load: float) -> list[tuple[str, str]]:
    rows = [r for r in machine(python, repo, load) if r[0] not in ("wrk", "curl")]
    rows.insert(4, ("disk (bench/.work)", disk(repo / "bench")))
    rows.insert(6, ("SQLite", sqlite3.sqlite_version))
    return rows


def markdown(
    collected: list[CollectResult],
    rounds: list[PushRound],
    args: Namespace,
    load: float,
    repo: Path,
    python: str,
    failures: list[str],
) -> str:
    """The whole RESULTS-gc.md text."""
    quick = " --quick" if args.quick else ""
    out = [
        "# Garbage collection benchmark: Berth (online) and Distribution (offline)",
        "",
        f"Written by `bench/run-gc{quick}`; do not edit by hand. How it runs and what the "
        'figures mean: bench/README.md, section "The garbage-collection benchmark".',
        "",
        f"Options: {args.blobs:,} blobs; Berth sweepers {', '.join(map(str, args.workers))}; "
        f"{args.rounds} push round(s) of {args.images} images; --via {args.via}"
        + (f"; --only {args.only}" if args.only else "")
        + ".",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine_rows(python, repo, load)],
    ]
    if collected:
        out += [
            "",
            "## Collecting unreferenced blobs (filesystem storage)",
            "",
            *collect_table(collected),
            "",
            "Berth collects **online**: it keeps serving pulls and pushes while the run "
            "goes (window 0 here: every unreferenced blob is a candidate at once). "
            "Distribution's `docker-registry garbage-collect` is **offline**: the "
            "registry must be stopped (or read-only) for the whole run, so its time is "
            "downtime.",
        ]
    if rounds:
        out += [
            "",
            "## Small-image pushes during a collection",
            "",
            *push_table(rounds),
            "",
            f"{rounds[0].images} images per batch, 8 clients, after 32 unrecorded; "
            f"collections driven {_vias(rounds)}; window "
            f"{WINDOW:.0f} s, so the pushed images are never candidates, and the "
            "generated blobs (touched a day before) all are.",
        ]
    out += ["", "## Verdict", "", *(_verdicts(collected, rounds) or ["- nothing to judge."])]
    if failures:
        out += ["", "## Failed steps", "", *[f"- {f}" for f in failures]]
    return "\n".join(out) + "\n"
