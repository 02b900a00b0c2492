"""bench/RESULTS-content-trust.md: the machine, manifest GETs by tag and by digest with
enable_content_trust off and on, and whether the target holds."""

from __future__ import annotations

import statistics
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import closing_sections

if TYPE_CHECKING:
    from bench.content_trust import Results

TARGET = 0.9  # on / off


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _verdict(value: float | None) -> str:
    if value is None:
        return "not measured"
    return "meets" if value >= TARGET else "misses"


def figures(results: Results) -> dict[str, tuple[float | None, float | None, float | None]]:
    """By reference kind: the medians off and on over the rounds, and on / off."""
    out = {}
    for ref, runs in results.gets.items():
        off = _median([r.requests_per_s for r in runs["off"]])
        on = _median([r.requests_per_s for r in runs["on"]])
        out[ref] = (off, on, on / off if on is not None and off else None)
    return out


def _rows(results: Results) -> list[str]:
    rows = []
    for ref, runs in results.gets.items():
        for state in ("off", "on"):
            for n, r in enumerate(runs[state], 1):
                rows.append(
                    f"| manifest GET by {ref}, content trust {state} | {n}"
                    f" | {r.requests_per_s:,.0f} req/s | p50 {r.p50_ms:.1f} ms,"
                    f" p99 {r.p99_ms:.1f} ms, {r.requests:,} requests |"
                )
    return rows


def markdown(
    results: Results, args: Namespace, load: float, repo: Path, python: str, failure: str
) -> tuple[str, bool]:
    """The report, and whether the target was missed."""
    f = figures(results)
    missed = any(ratio is not None and ratio < TARGET for _, _, ratio in f.values())
    lines = [
        "# Content trust benchmark",
        "",
        "Written by `bench/run-content-trust`; do not edit by hand. One Berth (SQLite,"
        " embedded jobs, `BERTH_LOG_LEVEL=error`), the project's enable_content_trust"
        " changed through the API between steps.",
        "",
        "**The machine was shared**: 2 cores, with other work (other sessions' tests and"
        " builds) running during the run; the load averages below show how much. The ratios"
        " come from turns in the same run, so a slow spell lands on both sides.",
        "",
        "## Figures (medians over the rounds)",
        "",
        "| figure | off | on | on / off | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| manifest GET by {ref}, enable_content_trust (req/s) | {_fmt(off)}"
            f" | {_fmt(on)} | {_fmt(ratio, 2)} | ≥ {TARGET} | {_verdict(ratio)} |"
            for ref, (off, on, ratio) in f.items()
        ],
        "",
        "## What is measured",
        "",
        f"- `wrk -t2 -c64 --latency` for {args.seconds} s (after a 2 s warm-up) on"
        " `GET /v2/dct-get/app/manifests/bench`, then on the same manifest by its digest,"
        " anonymous (public project), `Accept: application/vnd.oci.image.manifest.v1+json`."
        f" Off and on alternate, {args.rounds} round(s).",
        f"- The tag is signed by a `trust_target` row as the Notary server writes one; the"
        f" table holds {results.trust_rows:,} rows in all (the others sign tags of other"
        " repositories), so each check is an index read in a table of some size. With"
        " content trust on, every measured GET is served (200), and before each such run"
        " an unsigned image of the same repository is checked to be refused (412).",
        "",
        *closing_sections(_rows(results), python, repo, load, failure),
    ]
    return "\n".join(lines), missed
