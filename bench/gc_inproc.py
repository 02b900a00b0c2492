"""One collection by core.gc.collect on a Berth data dir (SQLite, filesystem storage), for
when the GC API is not there: `python -m bench.gc_inproc --data-dir D [--workers N]`.

It records a gc_run row (trigger CLI) as a real run would, runs the engine with a reporter
that keeps the log and never stops it, and prints one JSON line: run_id, status, seconds,
result. May run while `berth serve` serves the same data dir (another process on the same
database and files, as a `berth worker` would be)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path

from core.gc import GcOptions, GcStopped, collect
from models import GcRun
from models.db import close_database, open_database
from storage import build_driver


class QuietReporter:
    """A GcReporter that keeps the phases and lines for the run's log and never stops."""

    def __init__(self, run: GcRun) -> None:
        self.run = run
        self.lines: list[str] = []
        self.done = 0
        self.beat = 0.0

    async def phase(self, name: str, total: int | None) -> None:
        self.lines.append(f"{time.strftime('%H:%M:%S')} phase {name} ({total})")

    async def advance(self, count: int) -> None:
        self.done += count

    async def line(self, text: str) -> None:
        self.lines.append(text)

    async def should_stop(self) -> bool:
        """Never; keeps the run's heartbeat, at most once a second."""
        if time.monotonic() - self.beat >= 1.0:
            self.beat = time.monotonic()
            await GcRun.filter(id=self.run.id).update(heartbeat_at=dt.datetime.now(dt.UTC))
        return False


async def run(data_dir: Path, workers: int, window: float) -> dict[str, object]:
    await open_database(f"sqlite://{data_dir.resolve() / 'berth.db'}", create_schema=False)
    try:
        params = {"delete_untagged": False, "dry_run": False, "workers": workers}
        now = dt.datetime.now(dt.UTC)
        record = await GcRun.create(
            trigger="CLI", parameters=params, status="Running", operator="bench", heartbeat_at=now
        )
        reporter = QuietReporter(record)
        options = GcOptions(workers=workers, window=dt.timedelta(seconds=window))
        storage = build_driver("filesystem", data_dir.resolve() / "storage")
        started = time.perf_counter()
        try:
            result, status = await collect(storage, record.id, options, reporter), "Success"
        except GcStopped as stopped:
            result, status = stopped.result, "Stopped"
        seconds = time.perf_counter() - started
        await GcRun.filter(id=record.id).update(
            status=status,
            results=result.as_dict(),
            log="\n".join(reporter.lines),
            heartbeat_at=dt.datetime.now(dt.UTC),
        )
        return {
            "run_id": record.id,
            "status": status,
            "seconds": seconds,
            "result": result.as_dict(),
        }
    finally:
        await close_database()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_inproc", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--window", type=float, default=0.0, help="untouched seconds (0)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.data_dir, args.workers, args.window))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
