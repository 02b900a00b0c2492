"""A registry client over plain HTTP (httpx), as the soak and crash tests drive a real Berth:
push an image blob by blob (HEAD, then POST + PUT an upload), PUT its manifest, pull it back
with every digest checked, delete it; and collections through /api/v2.0/system/gc."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from tests.gc.support import OCI_MANIFEST, manifest_of, sha256
from tests.support import ADMIN

GC_LOST = {"BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"}  # what a push may meet with a window of 0
FINAL = {"Success", "Error", "Stopped"}


class PushRefused(Exception):
    """The registry said a blob is unknown before the manifest was acknowledged."""


@dataclass
class Image:
    repo: str
    tag: str
    config: bytes
    layers: list[bytes]
    manifest: bytes = field(init=False)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.manifest = manifest_of(self.config, self.layers)
        self.digest = sha256(self.manifest)

    def blobs(self) -> list[bytes]:
        return [self.config, *self.layers]


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, auth=ADMIN, timeout=120)


def error_codes(response: httpx.Response) -> set[str]:
    try:
        return {str(e.get("code")) for e in response.json().get("errors", [])}
    except ValueError:
        return set()


def push(http: httpx.Client, image: Image) -> None:
    """Push every blob the registry does not have, then the manifest. PushRefused when a
    blob is unknown on the way (a collection took it): the caller pushes again."""
    for data in image.blobs():
        digest = sha256(data)
        if http.head(f"/v2/{image.repo}/blobs/{digest}").status_code == 200:
            continue
        started = http.post(f"/v2/{image.repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        done = http.put(started.headers["Location"], params={"digest": digest}, content=data)
        assert done.status_code == 201, f"upload of {digest}: {done.status_code} {done.text}"
    headers = {"Content-Type": OCI_MANIFEST}
    put = http.put(
        f"/v2/{image.repo}/manifests/{image.tag}", content=image.manifest, headers=headers
    )
    if put.status_code != 201 and error_codes(put) & GC_LOST:
        raise PushRefused(put.text)
    assert put.status_code == 201, f"manifest PUT: {put.status_code} {put.text}"
    assert put.headers["Docker-Content-Digest"] == image.digest


def pull_problems(http: httpx.Client, image: Image) -> list[str]:
    """What is wrong when pulling the image by digest (nothing: an empty list)."""
    accept = {"Accept": OCI_MANIFEST}
    got = http.get(f"/v2/{image.repo}/manifests/{image.digest}", headers=accept)
    if got.status_code != 200 or got.content != image.manifest:
        return [f"{image.repo}@{image.digest}: manifest {got.status_code} {got.text[:200]}"]
    problems = []
    for data in image.blobs():
        digest = sha256(data)
        blob = http.get(f"/v2/{image.repo}/blobs/{digest}", follow_redirects=True)
        if blob.status_code != 200 or sha256(blob.content) != digest:
            problems.append(f"{image.repo}@{image.digest}: blob {digest} {blob.status_code}")
    return problems


def delete(http: httpx.Client, image: Image) -> None:
    gone = http.delete(f"/v2/{image.repo}/manifests/{image.digest}")
    assert gone.status_code == 202, f"delete {image.digest}: {gone.status_code} {gone.text}"


def start_collection(http: httpx.Client, workers: int = 2) -> int | None:
    """Ask for a manual collection; its run id, or None while another one runs."""
    body = {
        "schedule": {"type": "Manual"},
        "parameters": {"delete_untagged": False, "dry_run": False, "workers": workers},
    }
    answer = http.post("/api/v2.0/system/gc/schedule", json=body)
    if answer.status_code == 409:
        return None
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def run_status(http: httpx.Client, run_id: int) -> dict[str, object]:
    answer = http.get(f"/api/v2.0/system/gc/{run_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for_run(http: httpx.Client, run_id: int, within: float = 120) -> dict[str, object]:
    """The run's history row once it is final (fails after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        row = run_status(http, run_id)
        if row["job_status"] in FINAL:
            return row
        assert time.monotonic() < deadline, f"run {run_id} still {row['job_status']}"
        time.sleep(0.1)


def collect_now(http: httpx.Client, within: float = 120) -> dict[str, object]:
    """One whole collection (after the one running, if any); its final history row."""
    deadline = time.monotonic() + within
    while (run_id := start_collection(http)) is None:
        assert time.monotonic() < deadline, "a collection kept running"
        time.sleep(0.1)
    return wait_for_run(http, run_id, within)
