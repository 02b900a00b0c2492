"""Request-rate load: wrk for GETs, a thread pool of http.client clients for image pushes."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass

from bench.oci import OCI_MANIFEST, RegistryClient, StepFailed, config_blob, image_manifest

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_status: int
    socket_errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """Read req/s, the 50 % and 99 % latencies and error counts from `wrk --latency`."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rate and p50 and p99 and total):
        raise ValueError(f"unreadable wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_s=float(rate[1]),
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
        requests=int(total[1]),
        bad_status=int(bad[1]) if bad else 0,
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
    )


def run_wrk(
    url: str, seconds: int, accept: str | None = None, connections: int = 64, threads: int = 2
) -> WrkResult:
    """One wrk run; a short unrecorded warm-up first so lazy start-up costs are not counted."""
    header = ["-H", f"Accept: {accept}"] if accept else []
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "10s", *header]
    subprocess.run([*base, "-d2s", url], capture_output=True, timeout=60, check=False)
    out = subprocess.run(
        [*base, f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(out.stdout)


@dataclass
class SmallImage:
    tag: str
    blobs: list[bytes]
    manifest: bytes


def make_images(count: int, label: str) -> list[SmallImage]:
    """Unique images: a config and one or two random layers of 1-32 KiB each."""
    images = []
    for i in range(count):
        layers = [os.urandom(1024 * (1 + (i * 7 + j * 13) % 32)) for j in range(1 + i % 2)]
        config = config_blob(f"{label}-{i}-{os.urandom(8).hex()}")
        images.append(SmallImage(f"img-{i}", [config, *layers], image_manifest(config, layers)))
    return images


@dataclass
class PushResult:
    images: int
    seconds: float
    requests: int

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def push_images(
    base: str,
    repo: str,
    images: list[SmallImage],
    clients: int = 8,
    timeout: float = 300.0,
    auth: tuple[str, str] | None = None,
) -> PushResult:
    """Push every image through `clients` threads, each on its own keep-alive connection.

    With `auth`, every push request carries an Authorization: Basic header.
    """
    queue = list(reversed(images))
    lock = threading.Lock()
    failures: list[StepFailed] = []
    deadline = time.monotonic() + timeout

    def worker() -> None:
        client = RegistryClient(base, auth=auth)
        try:
            while time.monotonic() < deadline and not failures:
                with lock:
                    if not queue:
                        return
                    image = queue.pop()
                for blob in image.blobs:
                    client.push_blob(repo, blob)
                client.push_manifest(repo, image.tag, image.manifest)
        except StepFailed as err:
            failures.append(err)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    if queue:
        raise StepFailed(
            "push images", "PUT", base, "timeout", f"{len(queue)} images left after {timeout} s"
        )
    requests = sum(2 * len(image.blobs) + 1 for image in images)
    return PushResult(len(images), seconds, requests)


def check_get(base: str, path: str, accept: str = OCI_MANIFEST) -> None:
    """One GET before wrk, so a failing endpoint is reported with its answer."""
    client = RegistryClient(base)
    try:
        client.get("GET before wrk", path, headers={"Accept": accept})
    finally:
        client.close()
