"""Several Berth nodes behind one name: two `berth serve` nodes with data folders of their own
and two `berth worker` processes, on one PostgreSQL, one Redis and one SeaweedFS bucket.

What one node stores, the other serves; a node lost in the middle of a chunked upload leaves
the upload to the next node the client reaches; the push pipeline's jobs all complete on the
workers; exactly one node holds the scheduler lease."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from storage.keys import upload_key
from storage.s3 import PART, PARTS
from tests.peers import Docker, SeaweedS3
from tests.support import (
    ADMIN,
    REDIS,
    RunningBerth,
    assert_log_clean,
    berth_worker,
    broker_env,
    postgres_database,
    redis_answers,
    require,
    run_sql,
    running_berth,
    wait_until,
)

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@dataclass
class Cluster:
    """The shared services' settings, and the two nodes: A serves blobs itself, B redirects
    blob GETs to the store (storage.redirect)."""

    env: dict[str, str]
    a: RunningBerth
    b: RunningBerth
    root: Path


@pytest.fixture(scope="module")
def cluster(seaweedfs: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    root = tmp_path_factory.mktemp("nodes")
    bucket = seaweedfs.make_bucket(f"nodes-{uuid.uuid4().hex[:8]}")
    with postgres_database() as database, ExitStack() as stack:
        require(database is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        env = {
            **seaweedfs.env(bucket=bucket),
            **broker_env(REDIS),
            "BERTH_DATABASE_URL": str(database),
            "BERTH_SECRET_KEY": f"nodes-{uuid.uuid4().hex}",  # what every node is given alike
        }
        a = stack.enter_context(running_berth(root / "a", env))
        b = stack.enter_context(
            running_berth(root / "b", {**env, "BERTH_STORAGE__REDIRECT": "true"})
        )
        for name in ("w1", "w2"):
            (root / name).mkdir()
            stack.enter_context(berth_worker(root / name, env, name))
        yield Cluster(env, a, b, root)
    for node in (a, b):
        assert_log_clean(node.log, during="the multi-node tests")


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_a_blob_pushed_through_one_node_is_pulled_through_the_other(cluster: Cluster) -> None:
    data = os.urandom(6 * MiB)
    digest = sha256(data)
    pushed = httpx.post(
        f"{cluster.a.url}/v2/library/across/blobs/uploads/",
        params={"digest": digest},
        content=data,
        auth=ADMIN,
        timeout=60,
    )
    assert pushed.status_code == 201, pushed.text
    # B redirects to the store; A (no redirect) serves the bytes itself: both give them back
    for node in (cluster.b, cluster.a):
        pulled = httpx.get(
            f"{node.url}/v2/library/across/blobs/{digest}",
            auth=ADMIN,
            follow_redirects=True,
            timeout=60,
        )
        assert pulled.status_code == 200 and pulled.content == data


def test_a_token_or_session_one_node_issued_is_taken_by_the_other(cluster: Cluster) -> None:
    # A registry token from node A (as behind one name: the realm and the registry may be
    # answered by different nodes) ...
    issued = httpx.get(
        f"{cluster.a.url}/service/token",
        params={"service": "harbor-registry", "scope": "repository:library/across:pull"},
        auth=ADMIN,
    )
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert httpx.get(f"{cluster.b.url}/v2/", headers=bearer).status_code == 200
    # ... and a console session signed in on node A, used on node B
    with httpx.Client(base_url=cluster.a.url) as console:
        signed_in = console.post("/c/login", data={"principal": ADMIN[0], "password": ADMIN[1]})
        assert signed_in.status_code == 200, signed_in.text
        cookies = console.cookies
    current = httpx.get(f"{cluster.b.url}/api/v2.0/users/current", cookies=cookies)
    assert current.status_code == 200 and current.json()["username"] == ADMIN[0]


def test_a_node_killed_mid_upload_leaves_the_rest_to_another_node(
    cluster: Cluster, seaweedfs: SeaweedS3
) -> None:
    # Given a third node on the same services, taking a 256 MiB upload in 16 MiB chunks
    chunk, chunks = 16 * MiB, 16
    whole = hashlib.sha256()
    with (
        running_berth(cluster.root / "doomed", cluster.env) as doomed,
        httpx.Client(auth=ADMIN, timeout=120) as client,
    ):
        started = client.post(f"{doomed.url}/v2/library/survivor/blobs/uploads/")
        assert started.status_code == 202, started.text
        location, offset = started.headers["Location"], 0
        session = started.headers["Docker-Upload-UUID"]

        def patch(node: RunningBerth, data: bytes | Iterator[bytes]) -> httpx.Response:
            return client.patch(
                httpx.URL(node.url).join(location),
                content=data,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + chunk - 1}",
                    "Content-Length": str(chunk),
                },
            )

        def next_chunk(node: RunningBerth, data: bytes) -> tuple[str, int]:
            answer = patch(node, data)
            assert answer.status_code == 202, answer.text
            assert answer.headers["Range"] == f"0-{offset + chunk - 1}"
            return str(answer.headers["Location"]), offset + chunk

        for _ in range(chunks // 2 - 1):
            data = os.urandom(chunk)
            whole.update(data)
            location, offset = next_chunk(doomed, data)

        # When the node is SIGKILLed (with all its processes) in the middle of the next
        # chunk, once part of it has reached the store
        cut = os.urandom(chunk)
        whole.update(cut)
        halfway, killed = threading.Event(), threading.Event()

        def cut_short() -> Iterator[bytes]:
            for start in range(0, chunk, MiB):
                if start == 12 * MiB:
                    halfway.set()
                    killed.wait(60)  # the rest goes to a dead node
                yield cut[start : start + MiB]

        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(patch, doomed, cut_short())
            halfway.wait(60)
            beyond = f"{PARTS}/{upload_key(session)}/{(offset + 8 * MiB) // PART - 1:08d}"
            wait_until(
                "the cut chunk reaches the store", lambda: stored(seaweedfs, cluster, beyond)
            )
            os.killpg(doomed.proc.pid, signal.SIGKILL)
            doomed.proc.wait()
            killed.set()
            with pytest.raises(httpx.TransportError):
                sending.result()

        # Then node B says where the upload stands (the cut chunk does not count) ...
        status = client.get(httpx.URL(cluster.b.url).join(location))
        assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
        # ... takes that chunk again, the rest, and the final PUT
        location, offset = next_chunk(cluster.b, cut)
        for _ in range(chunks // 2):
            data = os.urandom(chunk)
            whole.update(data)
            location, offset = next_chunk(cluster.b, data)
        digest = f"sha256:{whole.hexdigest()}"
        done = client.put(httpx.URL(cluster.b.url).join(location), params={"digest": digest})
        assert done.status_code == 201, done.text

        # ... and the blob, read back through node A, is those bytes
        served, size = hashlib.sha256(), 0
        url = f"{cluster.a.url}/v2/library/survivor/blobs/{digest}"
        with client.stream("GET", url) as pulled:
            assert pulled.status_code == 200
            for piece in pulled.iter_bytes():
                served.update(piece)
                size += len(piece)
        assert size == chunk * chunks and f"sha256:{served.hexdigest()}" == digest


def stored(seaweedfs: SeaweedS3, cluster: Cluster, key: str) -> bool:
    bucket = cluster.env["BERTH_STORAGE__S3_BUCKET"]
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix=key)
    return bool(listed.get("KeyCount"))


def test_docker_pull_through_the_redirecting_node_runs_the_image(
    cluster: Cluster, dockerd: Docker, busybox_context: Path, tmp_path: Path
) -> None:
    # Given an image of its own (a layer no other test built, so that docker holds none of
    # it before the pull) pushed by docker through node A
    context = tmp_path / "context"
    shutil.copytree(busybox_context, context, symlinks=True)
    (context / "rootfs" / "nodes-marker").write_text(uuid.uuid4().hex)
    dockerd.login(cluster.a.host, *ADMIN)
    dockerd.login(cluster.b.host, *ADMIN)
    pushed_ref = f"{cluster.a.host}/library/nodes-busybox:v1"
    built = dockerd.build(context, pushed_ref)
    digest = dockerd.push(pushed_ref)
    dockerd.remove(pushed_ref)

    # When docker pulls it through node B, which redirects layer GETs to the store
    ref = f"{cluster.b.host}/library/nodes-busybox:v1"
    start = cluster.b.log.stat().st_size
    dockerd("pull", ref)

    # Then it is the same image (config, hence layer digests), it runs, and its layers came
    # from the store
    assert dockerd.image_id(ref) == built
    assert f"{cluster.b.host}/library/nodes-busybox@{digest}" in dockerd.repo_digests(ref)
    run = dockerd("run", "--rm", "--network", "none", ref, "sh", "-c", "echo from the store")
    assert run.stdout.strip() == "from the store"
    with cluster.b.log.open("rb") as log:
        log.seek(start)
        lines = [line for line in log.read().decode().splitlines() if line.startswith("{")]
    layer_gets = [
        r["status"]
        for r in map(json.loads, lines)
        if r.get("msg") == "request"
        and r["method"] == "GET"
        and "/library/nodes-busybox/blobs/" in r["path"]
    ]
    assert layer_gets and set(layer_gets) == {307}  # the config and the layer: from the store
    dockerd.remove(ref)


def test_the_push_pipeline_jobs_all_complete_on_the_workers(cluster: Cluster) -> None:
    # Given an image pushed through each node (config blob and manifest)
    for node, repo in ((cluster.a, "library/jobs-a"), (cluster.b, "library/jobs-b")):
        config = f'{{"architecture":"amd64","os":"linux","node":"{node.host}"}}'.encode()
        with httpx.Client(base_url=node.url, auth=ADMIN, timeout=60) as client:
            blob = client.post(
                f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(config)}, content=config
            )
            assert blob.status_code == 201, blob.text
            manifest = (
                '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json",'
                f'"digest":"{sha256(config)}","size":{len(config)}}},"layers":[]}}'
            )
            put = client.put(
                f"/v2/{repo}/manifests/v1",
                content=manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert put.status_code == 201, put.text

    # Then, within a bounded wait, every job has succeeded: none pending, running or failed
    def settled() -> list[tuple[object, ...]] | None:
        rows = run_sql(cluster.a, "SELECT kind, status, worker FROM job")
        pushes = [r for r in rows if r[0] == "push"]
        done = len(pushes) >= 2 and all(r[1] == "succeeded" for r in rows)
        return rows if done else None

    rows = wait_until("every job succeeded", settled, within=60)
    assert not [r for r in rows if r[1] in ("pending", "running", "failed")]
    # ... on the worker processes, not on the nodes (which only dispatch)
    assert {node_of(cluster, str(r[2])) for r in rows if r[0] == "push"} == {None}


def node_of(cluster: Cluster, worker: str) -> RunningBerth | None:
    """The node whose process (or one of its children: each node runs in a session of its
    own) a job-runtime name "host:pid" belongs to; None for a `berth worker` or a process
    gone."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        session = os.getsid(int(pid))
    except ProcessLookupError:
        return None
    return next((n for n in (cluster.a, cluster.b) if n.proc.pid == session), None)


def test_exactly_one_node_holds_the_scheduler_lease(cluster: Cluster) -> None:
    def lease() -> tuple[RunningBerth | None, object]:
        rows = run_sql(cluster.a, "SELECT holder, until FROM lease WHERE name = ?", "scheduler")
        assert len(rows) <= 1  # one row per lease name: one holder at a time
        return (node_of(cluster, str(rows[0][0])), rows[0][1]) if rows else (None, None)

    def held() -> tuple[RunningBerth | None, object] | None:
        now = lease()
        return now if now[0] else None

    # The lease is held by a live process of one of the two nodes ...
    holder, until = wait_until("a node holds the scheduler lease", held, within=30)

    def renewed() -> tuple[RunningBerth | None, object] | None:
        now = lease()
        return now if now[1] != until else None

    # ... and when it is renewed, it stays with that node: the other never takes it over
    assert wait_until("the lease is renewed", renewed, within=30)[0] is holder
