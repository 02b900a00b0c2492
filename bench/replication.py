"""`bench/run-replication`: Berth's replication next to skopeo, in one run on one machine.

The source is a Berth holding 200 small images (three 4 KiB layers each, 20 per repository)
and one image of a 1 GiB random layer. Each set is copied to a fresh Berth and to a fresh
Distribution, once by skopeo (the way a user mirrors without a replicating registry) and
once by a push-mode replication policy of the source, started and polled through Harbor's
API. Every copy is checked (each tag served under the source's digest) before its time
counts. Writes bench/RESULTS-replication.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import replication_berth, replication_skopeo
from bench.gc_drive import python_of
from bench.replication_data import ImageSet, missing_at, push_big, push_small
from bench.replication_report import BERTH, Measured, markdown, missed_targets
from bench.servers import Server, berth, distribution

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "replication"
DESTINATIONS = ("berth", "distribution")
SETS = ("small", "big")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run-replication", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 small images, a 64 MiB layer")
    parser.add_argument("--images", type=int, help="small images (200)")
    parser.add_argument("--big-mib", type=int, help="size of the big layer in MiB (1024)")
    parser.add_argument("--to", choices=DESTINATIONS, help="one destination kind only")
    parser.add_argument("--sets", default="small,big", help="small, big (both)")
    parser.add_argument(
        "--parallel", type=int, default=8, help="skopeo copy processes at a time (8)"
    )
    parser.add_argument("--skopeo-only", action="store_true", help="measure skopeo only, not Berth")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per copy, seconds")
    parser.add_argument(
        "--output",
        type=Path,
        help="default: bench/RESULTS-replication.md for a full run, "
        "bench/.work/RESULTS-replication-partial.md otherwise",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.images = args.images or (40 if args.quick else 200)
    args.big_mib = args.big_mib or (64 if args.quick else 1024)
    args.sets = [s for s in args.sets.split(",") if s]
    if any(s not in SETS for s in args.sets):
        parser.error("--sets takes small, big")
    return args


class Rig:
    """Where the servers of one run live, and how a fresh destination is made."""

    def __init__(self, work: Path, logs: Path, python: str) -> None:
        self.work, self.logs, self.python = work, logs, python
        self.made = 0

    def source(self) -> Server:
        server = berth(self.work / "source", self.logs, REPO, self.python)
        server.label, server.log_path = "source Berth", self.logs / "source-berth.log"
        return server

    def destination(self, kind: str) -> Server:
        self.made += 1
        where = self.work / f"dest-{self.made}"
        where.mkdir(parents=True)
        if kind == "berth":
            server = berth(where, self.logs, REPO, self.python)
        else:
            server = distribution(where, self.logs)
        server.log_path = self.logs / f"dest-{self.made}-{kind}.log"
        return server

    def restart(self, source: Server) -> None:
        """Start the source anew (same data) before Berth copies: its memory then shows the
        replication, not the high-water mark skopeo's logins left (each of its processes
        signs in; concurrent argon2 checks of 19 MiB each grow the allocator's arenas)."""
        source.stop()
        self.made += 1
        source.log_path = self.logs / f"source-berth-{self.made}.log"
        source.start()

    def drop(self, server: Server) -> None:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def measure_one(
    rig: Rig, kind: str, images: ImageSet, tool: str, copy: Callable[[Server], object]
) -> Measured:
    """Copy the set to a fresh destination of `kind` with `copy`, then check every tag."""
    dest = rig.destination(kind)
    dest.start()
    result = Measured(images.name, dest.label, tool, images.count, images.bytes)
    try:
        result.absorb(copy(dest))
        wrong = missing_at(dest, images)
        if wrong:
            result.failure = f"{len(wrong)} image(s) missing or different, e.g. {wrong[:3]}"
    except Exception as err:  # noqa: BLE001 - a failed copy is reported, the next one runs
        result.failure = f"{type(err).__name__}: {err}"
    finally:
        rig.drop(dest)
    status = f"FAILED: {result.failure}" if result.failure else f"{result.seconds or 0:.1f} s"
    print(f"  {images.name} -> {dest.label}, {tool}: {status}", flush=True)
    return result


def copies(
    args: argparse.Namespace, source: Server, images: ImageSet, work: Path, berth_missing: str
) -> list[tuple[str, Callable[[Server], object]]]:
    """The ways the set is copied, skopeo's first."""
    ways: list[tuple[str, Callable[[Server], object]]] = []
    if images.name == "small":
        ways.append(("skopeo sync", lambda d: replication_skopeo.sync(source, d, images, work)))
        ways.append(
            (
                f"skopeo copy x{args.parallel}",
                lambda d: replication_skopeo.copy_each(source, d, images, args.parallel),
            )
        )
    else:
        ways.append(("skopeo copy", lambda d: replication_skopeo.copy_each(source, d, images, 1)))
    if not args.skopeo_only and not berth_missing:
        ways.append(
            (
                BERTH,
                lambda d: replication_berth.replicate(source, d, images, args.timeout),
            )
        )
    return ways


def run(args: argparse.Namespace, rig: Rig) -> tuple[list[Measured], dict[str, ImageSet], str]:
    source = rig.source()
    source.start()
    try:
        print("pushing the images to the source Berth", flush=True)
        sets: dict[str, ImageSet] = {}
        if "small" in args.sets:
            sets["small"] = push_small(source, args.images)
        if "big" in args.sets:
            sets["big"] = push_big(source, rig.work, args.big_mib << 20)
        berth_missing = replication_berth.available(source)
        if berth_missing and not args.skopeo_only:
            print(f"note: {berth_missing}; measuring skopeo only", flush=True)
        results = []
        for kind in [args.to] if args.to else DESTINATIONS:
            for images in sets.values():
                for tool, copy in copies(args, source, images, rig.work, berth_missing):
                    if tool == BERTH:
                        rig.restart(source)
                    results.append(measure_one(rig, kind, images, tool, copy))
        return results, sets, berth_missing
    finally:
        source.stop()


def output_path(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    full = (
        args.images == 200
        and args.big_mib == 1024
        and not args.quick
        and not args.to
        and not args.skopeo_only
        and args.sets == list(SETS)
    )
    return (
        BENCH / "RESULTS-replication.md"
        if full
        else BENCH / ".work" / "RESULTS-replication-partial.md"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"bench/run-replication needs {tool} (Debian package)", file=sys.stderr)
            return 2
    load, started = os.getloadavg()[0], time.time()
    if load > 1.0:
        print(f"note: load average {load:.2f} before the run; figures may be low")
    work = WORK / time.strftime("run-%Y%m%d-%H%M%S")
    logs = WORK / "logs"
    work.mkdir(parents=True)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    python = python_of(REPO)
    try:
        results, sets, berth_missing = run(args, Rig(work, logs, python))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = output_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(results, sets, args, load, REPO, python, berth_missing))
    raw = [dataclasses.asdict(r) for r in results]
    (WORK / "last-results.json").write_text(json.dumps(raw, indent=1, default=str))
    print(path.read_text())
    print(f"wrote {path} in {(time.time() - started) / 60:.1f} min")
    failed = any(r.failure for r in results)
    return 1 if failed or (args.check and missed_targets(results)) else 0


if __name__ == "__main__":
    sys.exit(main())
