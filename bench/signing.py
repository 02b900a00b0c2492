"""`bench/run-signing`: what signing costs Berth, measured in one run on one server.

- manifest GET: wrk on one signed image's manifest (by tag, anonymous, public project)
  with the project's enable_content_trust_cosign off and on, in turns, same connections.
- small-image pushes: batches of small images (as bench/run's) by 8 threads into a
  project with sign_on_push off and one with it on, in turns. A push counts as done when
  the manifest PUT is answered, as the client sees it; for the signing batches the time
  until every image's signature (its sha256-<hex>.sig tag) exists is measured too.

Writes bench/RESULTS-signing.md (bench/.work/RESULTS-signing-partial.md for --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import SmallImage, WrkResult, check_get, make_images, push_images, run_wrk
from bench.oci import OCI_MANIFEST, RegistryClient, StepFailed, sha256_digest
from bench.servers import BERTH_ADMIN, Server, feature_run
from bench.signing_report import markdown

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "signing"
ENFORCE = "enable_content_trust_cosign"
SIGN = "sign_on_push"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run-signing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s wrk runs, 50 images, 1 round")
    parser.add_argument("--rounds", type=int, help="turns of each setting (2)")
    parser.add_argument("--seconds", type=int, help="each wrk run (15)")
    parser.add_argument("--images", type=int, help="small images per batch (200)")
    parser.add_argument("--output", type=Path, help="where the results go")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.seconds = args.seconds or (5 if args.quick else 15)
    args.images = args.images or (50 if args.quick else 200)
    return args


@dataclass
class PushBatch:
    sign_on_push: bool
    images: int
    seconds: float  # first request to the last manifest PUT's answer
    signed_after_s: float | None = None  # last answer to the last signature seen

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


@dataclass
class Results:
    gets: dict[str, list[WrkResult]] = field(default_factory=lambda: {"off": [], "on": []})
    pushes: list[PushBatch] = field(default_factory=list)


class Api:
    """Berth's REST API as the bench's admin, on one keep-alive connection."""

    def __init__(self, server: Server) -> None:
        self.client = RegistryClient(server.base, auth=BERTH_ADMIN)

    def call(self, method: str, path: str, body: object, ok: tuple[int, ...]) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        self.client.expect(path, method, f"/api/v2.0{path}", ok, body=data, headers=headers)

    def project(self, name: str, **metadata: str) -> None:
        body = {"project_name": name, "metadata": {"public": "true", **metadata}}
        self.call("POST", "/projects", body, (201,))

    def settings(self, name: str, **metadata: str) -> None:
        self.call("PUT", f"/projects/{name}", {"metadata": metadata}, (200,))

    def signed(self, repo: str, digest: str) -> bool:
        tag = digest.replace(":", "-", 1) + ".sig"
        headers = {"Accept": OCI_MANIFEST}
        return (
            self.client.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers=headers).status
            == 200
        )


def wait_signed(api: Api, repo: str, images: list[SmallImage], timeout: float) -> float:
    """Poll each image's .sig tag in push order until all exist; the seconds it took."""
    start, deadline = time.perf_counter(), time.monotonic() + timeout
    for image in images:
        while not api.signed(repo, sha256_digest(image.manifest)):
            if time.monotonic() > deadline:
                raise StepFailed("signatures", "HEAD", repo, "timeout", f"{image.tag} unsigned")
            time.sleep(0.02)
    return time.perf_counter() - start


def measure_gets(server: Server, api: Api, args: argparse.Namespace, results: Results) -> None:
    """One signed image; wrk on its manifest with enforcement off and on, in turns."""
    api.project("sig-get", **{SIGN: "true"})
    [image] = make_images(1, "get")
    client = RegistryClient(server.base, auth=BERTH_ADMIN)
    for blob in image.blobs:
        client.push_blob("sig-get/app", blob)
    client.push_manifest("sig-get/app", "bench", image.manifest)
    client.close()
    wait_signed(api, "sig-get/app", [image], 60)
    url = f"{server.base}/v2/sig-get/app/manifests/bench"
    for round_ in range(args.rounds):
        for state in ("off", "on"):
            api.settings("sig-get", **{ENFORCE: "true" if state == "on" else "false"})
            check_get(server.base, "/v2/sig-get/app/manifests/bench")
            result = run_wrk(url, args.seconds, accept=OCI_MANIFEST)
            if result.bad_status or result.socket_errors:
                raise StepFailed("wrk", "GET", url, result.bad_status, f"{result}")
            results.gets[state].append(result)
            print(f"  round {round_ + 1}, enforcement {state}: {result.requests_per_s:,.0f} req/s")


def measure_pushes(server: Server, api: Api, args: argparse.Namespace, results: Results) -> None:
    """Batches of small images with sign_on_push off and on, in turns, each in a project
    of its own; after a signing batch, the wait until all its signatures exist."""
    for round_ in range(args.rounds):
        for signing in (False, True):
            project = f"sig-push-{round_}-{'on' if signing else 'off'}"
            api.project(project, **{SIGN: "true" if signing else "false"})
            images = make_images(args.images, project)
            done = push_images(server.base, f"{project}/app", images, auth=BERTH_ADMIN)
            batch = PushBatch(signing, done.images, done.seconds)
            if signing:
                batch.signed_after_s = wait_signed(api, f"{project}/app", images, 600)
            results.pushes.append(batch)
            after = f", all signed {batch.signed_after_s:.1f} s later" if signing else ""
            state = "on" if signing else "off"
            print(f"  round {round_ + 1}, sign on push {state}: "
                  f"{batch.images_per_s:.1f} images/s{after}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("wrk") is None:
        print("bench/run-signing needs wrk (Debian package)", file=sys.stderr)
        return 2
    run = feature_run(WORK, REPO)
    server, results, failure = run.server, Results(), ""
    server.start()
    try:
        api = Api(server)
        print("manifest GET, enforcement off / on", flush=True)
        measure_gets(server, api, args, results)
        print("small-image pushes, sign on push off / on", flush=True)
        measure_pushes(server, api, args, results)
    except StepFailed as err:
        failure = str(err)
        print(f"FAILED: {failure}", file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(run.work, ignore_errors=True)
    full = not args.quick and args.rounds >= 2 and args.images == 200
    path = args.output or (BENCH / "RESULTS-signing.md" if full else WORK / "RESULTS-partial.md")
    text, missed = markdown(results, args, run.load, REPO, run.python, failure)
    return run.finish(results, text, path, bool(failure or (args.check and missed)))


if __name__ == "__main__":
    sys.exit(main())
