"""`bench/run-audit`: the audit log at a million events, on SQLite and on PostgreSQL.

For each embedded search backend: generate events, write them through Tortoise and index
them with the indexing pipeline (write, index and ingest rates), then start a real Berth on
that data and measure the audit search API's latencies. The events arrive in stages (by
default 100,000, then the rest up to 1,000,000), and the API is measured after each stage,
so the results show how query times grow with the log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from bench.audit_data import EventSource
from bench.audit_http import Queries, measure
from bench.audit_ingest import database_facts, ingest
from bench.audit_report import BackendResult, Stage, markdown
from bench.servers import BERTH_ADMIN, Server, free_port

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "audit"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
BACKENDS = ("sqlite", "postgres")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run-audit", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in all (1,000,000)")
    parser.add_argument(
        "--stages",
        default="100000",
        help="comma-separated event counts at which the API is also measured before the "
        "full count (default 100000; 'none' for only the full count)",
    )
    parser.add_argument(
        "--days",
        type=float,
        default=90,
        help="days the events are spread over (90); fewer days: more events per time "
        "window, as a busier registry would have",
    )
    parser.add_argument("--only", choices=BACKENDS, help="one backend")
    parser.add_argument("--requests", type=int, default=240, help="requests per kind of query")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument(
        "--auth",
        choices=("session", "basic"),
        default="session",
        help="the dashboard's session cookie (default) or Basic credentials on every request",
    )
    parser.add_argument("--write-batch", type=int, default=1000, help="events per bulk_create")
    parser.add_argument("--index-batch", type=int, default=2000, help="events per index batch")
    parser.add_argument(
        "--output",
        type=Path,
        help="default: bench/RESULTS-audit.md for a "
        "full run of both backends, bench/.work/RESULTS-audit-partial.md otherwise",
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="PostgreSQL: skip the VACUUM (ANALYZE) after each stage that stands in for "
        "autovacuum (off on this machine's server); plans then run without statistics",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def stages(args: argparse.Namespace) -> list[int]:
    marks = [] if args.stages == "none" else [int(s) for s in args.stages.split(",") if s]
    return sorted({m for m in marks if 0 < m < args.events} | {args.events})


@contextlib.contextmanager
def database(backend: str, data_dir: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file in data_dir, or a new PostgreSQL database that
    is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite://{data_dir / 'berth.db'}"
        return
    name = f"berth_bench_audit_{uuid.uuid4().hex[:8]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_admin(sql: str, url: str = f"{POSTGRES}/postgres") -> str:
    """Run one statement outside any transaction (CREATE DATABASE, VACUUM); its first value."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        if sql.startswith(("SHOW", "SELECT")):
            return str(await conn.fetchval(sql))
        return str(await conn.execute(sql))
    finally:
        await conn.close()


def maintain(url: str, analyze: bool) -> dict[str, str]:
    """PostgreSQL: what autovacuum would have done after a bulk load when the server has it
    off (as the bench machine's has): VACUUM (ANALYZE), timed. SQLite: nothing, as Berth
    runs no ANALYZE of its own."""
    if url.startswith("sqlite://"):
        return {}
    facts = {"autovacuum": asyncio.run(_postgres_admin("SHOW autovacuum", url))}
    if analyze:
        started = time.perf_counter()
        asyncio.run(_postgres_admin("VACUUM (ANALYZE)", url))
        facts["vacuum_analyze_seconds"] = f"{time.perf_counter() - started:.1f}"
    return facts


def berth_server(data_dir: Path, url: str) -> Server:
    """`berth serve` on the bench's data, its log at error level, as bench/servers.py does."""
    port = free_port()
    cmd = [sys.executable, "-m", "ops.cli", "serve", "--listen", f"127.0.0.1:{port}",
           "--data-dir", str(data_dir)]  # fmt: skip
    env = {
        "BERTH_LOG_LEVEL": os.environ.get("BERTH_LOG_LEVEL", "error"),
        "BERTH_ADMIN_PASSWORD": BERTH_ADMIN[1],
    }
    if not url.startswith("sqlite://"):
        env["BERTH_DATABASE_URL"] = url
    return Server("Berth", cmd, data_dir, data_dir.parent / f"{data_dir.name}.log", port,
                  cwd=REPO, env=env)  # fmt: skip


def stop(server: Server, timeout: float = 30.0) -> None:
    """Stop Berth and wait for every process of its group, SIGKILL after timeout: its
    server processes finish their jobs after the parent has exited (an indexing job drains
    for up to 30 s), and one still running would index the next stage's events."""
    group = server.proc.pid if server.proc is not None else None
    server.stop()
    deadline = time.monotonic() + timeout
    while group is not None:
        try:
            os.killpg(group, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def run_backend(backend: str, args: argparse.Namespace) -> BackendResult:
    """Every stage on one backend: ingest, then the API measured on a running Berth."""
    data_dir = WORK / backend
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    result = BackendResult(backend)
    source = EventSource(args.events, days=args.days)
    with database(backend, data_dir) as url:
        for until in stages(args):
            print(f"[{backend}] events up to {until:,}", flush=True)
            figures = asyncio.run(
                ingest(url, data_dir, source, until,
                       write_batch=args.write_batch, index_batch_size=args.index_batch)
            )  # fmt: skip
            facts = {**asyncio.run(database_facts(url)), **maintain(url, args.analyze)}
            covered = source.start + timedelta(seconds=source.made * source.step)
            queries = Queries(source.world, source.start, covered)
            server = berth_server(data_dir, url)
            server.start()
            try:
                latencies = measure(server.base, BERTH_ADMIN, queries, requests=args.requests,
                                    clients=args.clients, auth=args.auth, seed=until)  # fmt: skip
            finally:
                stop(server)
            result.stages.append(Stage(until, figures, latencies, facts))
    return result


def output_path(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    full = args.only is None and args.events == 1_000_000 and args.days == 90
    return BENCH / "RESULTS-audit.md" if full else WORK.parent / "RESULTS-audit-partial.md"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.time()
    load = os.getloadavg()[0]
    results = [run_backend(b, args) for b in ([args.only] if args.only else BACKENDS)]
    text, missed = markdown(results, args, load, REPO)
    path = output_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    raw = [asdict(r) for r in results]
    (WORK / "last-results.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"wrote {path} in {(time.time() - started) / 60:.1f} min")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
