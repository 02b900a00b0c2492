"""`bench/run-gc`: garbage collection of 100,000 unreferenced blobs on Berth (online, through
its API) and Distribution (offline `garbage-collect`), and small-image pushes per second
while Berth collects, as a ratio to the same pushes without. Writes bench/RESULTS-gc.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench import gc_push
from bench.gc_drive import python_of
from bench.gc_report import PUSH_TARGET, markdown, push_ratio
from bench.gc_steps import BerthRig, CollectResult, collect_berth, collect_distribution
from bench.profiler import py_spy

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "gc"
PARTS = ("collect", "push")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run-gc", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 10,000 blobs, 1 worker, 1 push round of 100 images",
    )
    parser.add_argument("--blobs", type=int, help="unreferenced blobs to collect (100,000)")
    parser.add_argument(
        "--workers",
        help="Berth's sweepers per collection, comma-separated (default 1,4: one collection each)",
    )
    parser.add_argument("--only", choices=["berth", "distribution"], help="one registry")
    parser.add_argument(
        "--parts",
        default="collect,push",
        help="collect (the timed collections), push (pushes during one)",
    )
    parser.add_argument("--images", type=int, help="small images per push batch (200)")
    parser.add_argument("--rounds", type=int, help="push rounds (2; 1 with --quick)")
    parser.add_argument(
        "--push-blobs",
        type=int,
        help="unreferenced blobs for the push rounds (default: enough for "
        "Berth's measured collection rate to outlast a batch)",
    )
    parser.add_argument(
        "--via",
        choices=["auto", "api", "cli", "inprocess"],
        default="auto",
        help="drive Berth's collection through its API, `berth gc` in a process of its own, "
        "or core.gc.collect with a trivial reporter (inprocess); auto: the API when Berth "
        "has it, else inprocess",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="default: bench/RESULTS-gc.md for a full "
        "run, bench/.work/RESULTS-gc-partial.md otherwise",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample Berth with py-spy during each push batch (bench/.work/gc/profiles/); "
        "never writes bench/RESULTS-gc.md",
    )
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the push ratio is under {PUSH_TARGET}"
    )
    args = parser.parse_args(argv)
    args.blobs = args.blobs or (10_000 if args.quick else 100_000)
    args.workers = [int(w) for w in (args.workers or ("1" if args.quick else "1,4")).split(",")]
    args.images = args.images or (100 if args.quick else 200)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.parts = [p for p in args.parts.split(",") if p]
    if any(p not in PARTS for p in args.parts):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    return args


def gc_env() -> dict[str, str]:
    """The BERTH_GC__* variables for the collection window, if Berth's settings have them
    (an unknown BERTH_ variable stops Berth: its settings forbid extras)."""
    from ops.settings import Settings

    field = Settings.model_fields.get("gc")
    names = getattr(field.annotation, "model_fields", {}) if field else {}
    env = {}
    if "window_seconds" in names:
        env["BERTH_GC__WINDOW_SECONDS"] = "{window}"
    if "on_start" in names:  # a collection at start-up would eat the set before the bench
        env["BERTH_GC__ON_START"] = "false"
    return env


def run(args: argparse.Namespace, rig: BerthRig, failures: list[str]) -> tuple[list, list]:
    collected: list[CollectResult] = []
    rounds: list[gc_push.PushRound] = []
    names = [args.only] if args.only else ["distribution", "berth"]
    if "collect" in args.parts:
        if "distribution" in names:
            _attempt(
                failures,
                "Distribution collect",
                lambda: collected.append(collect_distribution(rig.work, rig.logs, args.blobs)),
            )
        for workers in args.workers if "berth" in names else []:
            _attempt(
                failures,
                f"Berth collect, {workers} worker(s)",
                lambda w=workers: collected.append(collect_berth(rig, args.blobs, w)),
            )
    if "push" in args.parts and "berth" in names:
        rate = next((r.blobs_per_s for r in collected if r.registry == "Berth"), None)
        blobs = args.push_blobs or gc_push.blobs_for(rate, args.images)
        rounds = gc_push.measure(rig, args.rounds, args.images, blobs)
        failures += [f"push round {r.round_no}: {f}" for r in rounds for f in r.failures]
    return collected, rounds


def _attempt(failures: list[str], what: str, step) -> None:  # type: ignore[no-untyped-def]
    try:
        step()
    except Exception as err:  # noqa: BLE001 - a failed step is reported, the next one runs
        failures.append(f"{what}: {type(err).__name__}: {err}")
        print(f"  FAILED {what}: {err}", flush=True)


def output_path(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    whole = args.blobs == 100_000 and len(args.parts) == 2 and args.via in ("auto", "api")
    full = whole and not (args.quick or args.only or args.profile)
    return BENCH / "RESULTS-gc.md" if full else BENCH / ".work" / "RESULTS-gc-partial.md"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("docker-registry") is None:
        print(
            "bench/run-gc needs docker-registry: DEBIAN_FRONTEND=noninteractive apt-get "
            "install -y --no-install-recommends docker-registry",
            file=sys.stderr,
        )
        return 2
    load, started = os.getloadavg()[0], time.time()
    if load > 1.0:
        print(f"note: load average {load:.2f} before the run; figures may be low")
    work = WORK / time.strftime("run-%Y%m%d-%H%M%S")
    logs = WORK / "logs"
    work.mkdir(parents=True)
    logs.mkdir(parents=True, exist_ok=True)
    python = python_of(REPO)
    rig = BerthRig(work, logs, REPO, python, gc_env(), args.via)
    if args.profile:
        rig.py_spy = py_spy(REPO)
        if rig.py_spy is None:
            print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
            return 2
    failures: list[str] = []
    try:
        collected, rounds = run(args, rig, failures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = output_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(collected, rounds, args, load, REPO, python, failures))
    raw = {
        "collect": [dataclasses.asdict(c) for c in collected],
        "push": [dataclasses.asdict(r) for r in rounds],
    }
    (WORK / "last-results.json").write_text(json.dumps(raw, indent=1, default=str))
    print(path.read_text())
    print(f"wrote {path} in {(time.time() - started) / 60:.1f} min")
    ratio = push_ratio(rounds)
    missed = args.check and rounds and (ratio is None or ratio < PUSH_TARGET)
    return 1 if failures or missed else 0


if __name__ == "__main__":
    sys.exit(main())
