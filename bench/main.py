"""`bench/run`: measure Distribution and Berth in one run and write RESULTS.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.blobdata import BigBlob
from bench.profiler import py_spy
from bench.report import RegistryResult, RunInfo
from bench.servers import Server, berth, distribution
from bench.suite import KINDS, Settings, Suite

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LABELS = {"distribution": "Distribution", "berth": "Berth"}
INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
    "docker-registry wrk curl"
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 128 MiB transfers, 5 s wrk runs, 1 repeat, 50 images",
    )
    parser.add_argument("--only", choices=["berth", "distribution"], help="measure one registry")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the results (default: bench/RESULTS.md for a full "
        "run of both, bench/.work/RESULTS-partial.md otherwise)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample Berth with py-spy during each step (slows it; never writes RESULTS.md); "
        "profiles and hot-spot lists go to bench/.work/profiles/",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="times each registry is measured, taking turns (default 2; 1 with --quick)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when Berth misses a target")
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(size=128 << 20, repeats=1, pull_repeats=3, wrk_seconds=5, images=50)
    return Settings(size=1 << 30, repeats=3, pull_repeats=5, wrk_seconds=15, images=200)


def missing_tools() -> list[str]:
    return [tool for tool in ("docker-registry", "wrk", "curl") if shutil.which(tool) is None]


def berth_problem(python: str) -> str | None:
    """Why Berth cannot be started, or None when `ops.cli serve --help` works."""
    cmd = [python, "-m", "ops.cli", "serve", "--help"]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`{' '.join(cmd)}` failed: {err}"
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        return f"`python -m ops.cli serve --help` exited {out.returncode}: {tail[0]}"
    return None


def measure(server: Server, blob: BigBlob, settings: Settings, result: RegistryResult) -> None:
    """One round of every step on a freshly started server, whose data is deleted after."""
    print(f"== {server.label} on {server.base}", flush=True)
    try:
        server.start()
    except RuntimeError as err:
        result.failures.append(f"start: {err}")
        print(f"  FAILED to start: {err}", flush=True)
        return
    try:
        Suite(server, blob, settings, result).run()
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
        os.sync()


def run_rounds(
    names: list[str], settings: Settings, rounds: int, python: str, problem: str | None
) -> dict[str, RegistryResult]:
    """The registries take turns, one at a time, `rounds` times over one big blob."""
    results = {name: RegistryResult(LABELS[name]) for name in names}
    if problem and "berth" in results:
        results["berth"].failures.append(f"start: {problem}")
        names = [n for n in names if n != "berth"]
    work = BENCH / ".work" / time.strftime("run-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    blob = BigBlob(work / "big.bin", settings.size)
    try:
        print(f"writing {settings.size >> 20} MiB of random bytes to {blob.path} ...", flush=True)
        blob.create()
        for round_no in range(1, rounds + 1):
            logs = BENCH / ".work" / "logs" / f"round{round_no}"
            logs.mkdir(parents=True, exist_ok=True)
            print(f"-- round {round_no} of {rounds}", flush=True)
            for name in names:
                if name == "distribution":
                    server = distribution(work, logs)
                else:
                    server = berth(work, logs, REPO, python)
                measure(server, blob, settings, results[name])
    finally:
        blob.remove()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    missing = missing_tools()
    if missing:
        print(f"bench/run needs {', '.join(missing)}; install with:\n  {INSTALL}", file=sys.stderr)
        return 2
    venv = REPO / ".venv/bin/python"
    python = str(venv) if venv.exists() else sys.executable
    names = [args.only] if args.only else ["distribution", "berth"]
    problem = berth_problem(python) if "berth" in names else None
    if problem and args.only == "berth":
        print(f"Berth cannot start: {problem}", file=sys.stderr)
        return 2
    settings = settings_for(args)
    if args.profile:
        settings.py_spy = py_spy(REPO)
        if settings.py_spy is None:
            print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
            return 2
        settings.profile_dir = BENCH / ".work" / "profiles"
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (1 if args.quick or args.profile else 2)
    load_at_start = os.getloadavg()[0]
    if load_at_start > 1.0:
        print(f"note: load average {load_at_start:.2f} before the run; figures may be low")
    results = run_rounds(names, settings, rounds, python, problem)
    return finish(args, settings, rounds, results, python, load_at_start)


def finish(
    args: argparse.Namespace,
    settings: Settings,
    rounds: int,
    results: dict[str, RegistryResult],
    python: str,
    load_at_start: float | None = None,
) -> int:
    size_label = (
        f"{settings.size >> 30} GiB" if settings.size >= 1 << 30 else f"{settings.size >> 20} MiB"
    )
    rows = report.metrics(size_label, settings.images)
    raw = {name: dataclasses.asdict(result) for name, result in results.items()}
    (BENCH / ".work" / "last-results.json").write_text(json.dumps(raw, indent=1))
    dist, brth = results.get("distribution"), results.get("berth")
    info = RunInfo(
        size=settings.size,
        rounds=rounds,
        repeats=settings.repeats,
        pull_repeats=settings.pull_repeats,
        wrk_seconds=settings.wrk_seconds,
        images=settings.images,
        clients={k: settings.clients.get(k, "httpx") for k in KINDS},
        calibration=settings.calibration,
        quick=args.quick,
    )
    text = report.markdown(rows, dist, brth, info, report.machine(python, REPO, load_at_start))
    full = not (args.quick or args.only or args.profile)
    output = args.output or (
        BENCH / "RESULTS.md" if full else BENCH / ".work" / "RESULTS-partial.md"
    )
    output.write_text(text)
    print("\n" + "\n".join(report.table(rows, dist, brth)))
    for result in results.values():
        for failure in result.failures:
            print(f"FAILED {result.label}: {failure}")
    print(f"\nwritten to {output}")
    failed = any(r.failures for r in results.values())
    missed = bool(dist and brth and report.misses(rows, dist, brth))
    return 1 if failed or (args.check and missed) else 0
