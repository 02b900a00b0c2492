"""bench/RESULTS-signing.md: the machine, manifest GETs with enforcement off and on, small
pushes with sign on push off and on, and whether the targets hold."""

from __future__ import annotations

import statistics
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import closing_sections

if TYPE_CHECKING:
    from bench.signing import Results

TARGET = 0.9  # on / off, for both figures


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(on: float | None, off: float | None) -> float | None:
    return on / off if on is not None and off else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _verdict(value: float | None) -> str:
    if value is None:
        return "not measured"
    return "meets" if value >= TARGET else "misses"


def figures(results: Results) -> dict[str, float | None]:
    """The medians over the rounds, and the two ratios."""
    get_off = _median([r.requests_per_s for r in results.gets["off"]])
    get_on = _median([r.requests_per_s for r in results.gets["on"]])
    push_off = _median([b.images_per_s for b in results.pushes if not b.sign_on_push])
    push_on = _median([b.images_per_s for b in results.pushes if b.sign_on_push])
    signed = [b.signed_after_s for b in results.pushes if b.signed_after_s is not None]
    return {
        "get_off": get_off,
        "get_on": get_on,
        "get_ratio": _ratio(get_on, get_off),
        "push_off": push_off,
        "push_on": push_on,
        "push_ratio": _ratio(push_on, push_off),
        "signed_after": max(signed) if signed else None,
    }


def _rows(results: Results) -> list[str]:
    rows = []
    for state in ("off", "on"):
        for n, r in enumerate(results.gets[state], 1):
            rows.append(
                f"| manifest GET, enforcement {state} | {n} | {r.requests_per_s:,.0f} req/s"
                f" | p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, {r.requests:,} requests |"
            )
    for n, b in enumerate(results.pushes, 1):
        state = "on" if b.sign_on_push else "off"
        signed = f", all signed {b.signed_after_s:.1f} s after" if b.signed_after_s else ""
        rows.append(
            f"| small pushes, sign on push {state} | {(n + 1) // 2} | "
            f"{b.images_per_s:.1f} images/s | {b.images} in {b.seconds:.1f} s{signed} |"
        )
    return rows


def markdown(
    results: Results, args: Namespace, load: float, repo: Path, python: str, failure: str
) -> tuple[str, bool]:
    """The report, and whether a target was missed."""
    f = figures(results)
    ratios = [f["get_ratio"], f["push_ratio"]]
    missed = any(r is not None and r < TARGET for r in ratios)
    lines = [
        "# Signing benchmark",
        "",
        "Written by `bench/run-signing`; do not edit by hand. One Berth (SQLite, embedded"
        " jobs, `BERTH_LOG_LEVEL=error`), settings changed through the API between steps.",
        "",
        "**The machine was shared**: 2 cores, with other work (other sessions' tests and"
        " builds) running during the run; the load averages below show how much. The ratios"
        " come from turns in the same run, so a slow spell lands on both sides.",
        "",
        "## Figures (medians over the rounds)",
        "",
        "| figure | off | on | on / off | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| manifest GET, enable_content_trust_cosign (req/s) | {_fmt(f['get_off'], 0)}"
        f" | {_fmt(f['get_on'], 0)} | {_fmt(f['get_ratio'], 2)} | ≥ {TARGET}"
        f" | {_verdict(f['get_ratio'])} |",
        f"| small-image pushes, sign_on_push (images/s) | {_fmt(f['push_off'])}"
        f" | {_fmt(f['push_on'])} | {_fmt(f['push_ratio'], 2)} | ≥ {TARGET}"
        f" | {_verdict(f['push_ratio'])} |",
        "",
        f"Signatures of a signing batch: all existed at most {_fmt(f['signed_after'])} s"
        " after its last manifest PUT was answered (polled per image, .sig tag by HEAD).",
        "",
        "## What is measured",
        "",
        f"- manifest GET: `wrk -t2 -c64 --latency` for {args.seconds} s (after a 2 s"
        " warm-up) on `GET /v2/sig-get/app/manifests/bench`, anonymous (public project),"
        " `Accept: application/vnd.oci.image.manifest.v1+json`; the image is signed by"
        " Berth (sign on push), so with enforcement on every GET is served (200). Off and on"
        f" alternate, {args.rounds} round(s).",
        f"- small pushes: {args.images} distinct images per batch (a config, 1–2 random"
        " layers of 1–32 KiB, an OCI manifest) by 8 threads on keep-alive connections, each"
        " blob POST + PUT, Basic auth; a batch's time runs from its first request to the"
        " answer of its last manifest PUT (what the client waits for). Each batch goes to a"
        " new project with sign_on_push off or on; off and on alternate. After a signing"
        " batch the bench waits for every signature before the next step.",
        "",
        *closing_sections(_rows(results), python, repo, load, failure),
    ]
    return "\n".join(lines), missed
