"""`bench/run-content-trust`: what Docker Content Trust enforcement costs a pull, measured in
one run on one server.

One public project with an image whose tag is signed in its trust data (a `trust_target`
row, as the Notary server records one; the table also holds the signed tags of many other
repositories, so the lookups are index reads in a table of some size) and an unsigned one.
wrk asks for the signed image's manifest by tag, then by digest, with the project's
enable_content_trust off and on, in turns, same connections. With it on, every request is
served (the image is signed), and the unsigned image is checked to be refused (412) before
each "on" run, so the figure is of an enforcing pull path.

Writes bench/RESULTS-content-trust.md (bench/.work/content-trust/RESULTS-partial.md for a
short run).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.content_trust_report import markdown
from bench.loadgen import WrkResult, check_get, make_images, run_wrk
from bench.oci import OCI_MANIFEST, RegistryClient, StepFailed, sha256_digest
from bench.servers import BERTH_ADMIN, Server, feature_run
from bench.signing import Api

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "content-trust"
CONTENT_TRUST = "enable_content_trust"
PROJECT, NAME = "dct-get", "dct-get/app"
REFERENCES = ("tag", "digest")
HOST = "127.0.0.1:5000"  # the host part of the GUNs written (Berth's names drop it)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run-content-trust", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s wrk runs, 1 round")
    parser.add_argument("--rounds", type=int, help="turns of each setting (2)")
    parser.add_argument("--seconds", type=int, help="each wrk run (15)")
    parser.add_argument(
        "--others", type=int, default=20_000, help="signed tags of other repositories (20000)"
    )
    parser.add_argument("--output", type=Path, help="where the results go")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.seconds = args.seconds or (5 if args.quick else 15)
    return args


@dataclass
class Results:
    """wrk runs by reference kind (tag, digest), then by setting (off, on)."""

    gets: dict[str, dict[str, list[WrkResult]]] = field(
        default_factory=lambda: {ref: {"off": [], "on": []} for ref in REFERENCES}
    )
    trust_rows: int = 0


def seed_trust(db: Path, digest: str, others: int) -> int:
    """Write the signed tag of the bench's image, and `others` signed tags of other
    repositories, straight into Berth's database (what the Notary server would write);
    the rows the table then holds."""
    expires = int(time.time()) + 30 * 86400
    rows = [(NAME, f"{HOST}/{NAME}", "bench", digest, 1000, "targets", expires)]
    for n in range(others):
        repo = f"other-{n % 500}/app-{n // 500}"
        fake = sha256_digest(f"other-{n}".encode())
        rows.append((repo, f"{HOST}/{repo}", f"v{n}", fake, 1000, "targets/releases", expires))
    with sqlite3.connect(db, timeout=30) as conn:
        conn.executemany(
            "INSERT INTO trust_target (repository, gun, tag, digest, length, role, expires)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        (count,) = conn.execute("SELECT count(*) FROM trust_target").fetchone()
    return int(count)


def push_two(server: Server) -> str:
    """The signed-to-be image (tag bench) and an unsigned one (tag unsigned); the former's
    digest."""
    signed, unsigned = make_images(2, "dct")
    client = RegistryClient(server.base, auth=BERTH_ADMIN)
    try:
        for image, tag in ((signed, "bench"), (unsigned, "unsigned")):
            for blob in image.blobs:
                client.push_blob(NAME, blob)
            client.push_manifest(NAME, tag, image.manifest)
    finally:
        client.close()
    return sha256_digest(signed.manifest)


def refused_unsigned(server: Server) -> None:
    """With enforcement on, the unsigned image is refused (the "on" runs enforce)."""
    client = RegistryClient(server.base)
    try:
        path, headers = f"/v2/{NAME}/manifests/unsigned", {"Accept": OCI_MANIFEST}
        client.expect("unsigned refused", "GET", path, (412,), b"", headers)
    finally:
        client.close()


def measure(server: Server, api: Api, args: argparse.Namespace, results: Results) -> None:
    api.project(PROJECT)
    digest = push_two(server)
    results.trust_rows = seed_trust(server.data_dir / "berth.db", digest, args.others)
    paths = {"tag": f"/v2/{NAME}/manifests/bench", "digest": f"/v2/{NAME}/manifests/{digest}"}
    for round_ in range(args.rounds):
        for ref in REFERENCES:
            for state in ("off", "on"):
                api.settings(PROJECT, **{CONTENT_TRUST: "true" if state == "on" else "false"})
                if state == "on":
                    refused_unsigned(server)
                check_get(server.base, paths[ref])
                url = server.base + paths[ref]
                result = run_wrk(url, args.seconds, accept=OCI_MANIFEST)
                if result.bad_status or result.socket_errors:
                    raise StepFailed("wrk", "GET", url, result.bad_status, f"{result}")
                results.gets[ref][state].append(result)
                print(
                    f"  round {round_ + 1}, by {ref}, content trust {state}:"
                    f" {result.requests_per_s:,.0f} req/s",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("wrk") is None:
        print("bench/run-content-trust needs wrk (Debian package)", file=sys.stderr)
        return 2
    run = feature_run(WORK, REPO)
    server, results, failure = run.server, Results(), ""
    server.start()
    try:
        print("manifest GET by tag and by digest, content trust off / on", flush=True)
        measure(server, Api(server), args, results)
    except StepFailed as err:
        failure = str(err)
        print(f"FAILED: {failure}", file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(run.work, ignore_errors=True)
    full = not args.quick and args.rounds >= 2 and args.seconds >= 15
    path = args.output or (
        BENCH / "RESULTS-content-trust.md" if full else WORK / "RESULTS-partial.md"
    )
    text, missed = markdown(results, args, run.load, REPO, run.python, failure)
    return run.finish(results, text, path, bool(failure or (args.check and missed)))


if __name__ == "__main__":
    sys.exit(main())
