"""The baseline: skopeo copying the same images from the source Berth to a fresh
destination, the way a user scripts a mirror without a replicating registry.

Two ways for the small images, both timed in the same run, and the faster one is the figure
Berth is compared with:

- `skopeo sync --src yaml`: one command naming every repository (all tags), which copies
  the images one after the other;
- `skopeo copy` per image, `parallel` at a time (as `xargs -P 8` would run them).

The big image is one `skopeo copy`. Every command passes `--preserve-digests`, so a copy
that would change a digest fails instead of being counted.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.replication_data import ImageSet
from bench.servers import Credentials, Server

TIMEOUT = 3600.0


@dataclass
class SkopeoRun:
    method: str  # "sync" / "copy xN"
    seconds: float
    images: int


def _creds(flag: str, auth: Credentials | None) -> list[str]:
    return [f"--{flag}-creds", ":".join(auth)] if auth else []


def _skopeo(args: list[str]) -> None:
    cmd = ["skopeo", "--insecure-policy", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr[-2000:]}")


def sync(source: Server, dest: Server, images: ImageSet, work: Path) -> SkopeoRun:
    """One `skopeo sync` of every repository of the set, all tags, into the same names."""
    config = work / "skopeo-sync.yml"
    user = ""
    if source.push_auth:
        name, password = source.push_auth
        user = f"  credentials:\n    username: {name}\n    password: {password}\n"
    listing = "".join(f"    {repo}: []\n" for repo in images.repositories)
    host = source.base.removeprefix("http://")
    config.write_text(f"{host}:\n  tls-verify: false\n{user}  images:\n{listing}")
    namespace = {r.rsplit("/", 1)[0] for r in images.repositories}
    assert len(namespace) == 1, "skopeo sync keeps only the last path part of a name"
    started = time.perf_counter()
    _skopeo(
        [
            "sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false",
            "--preserve-digests", *_creds("dest", dest.push_auth),
            str(config), f"{dest.base.removeprefix('http://')}/{namespace.pop()}",
        ]
    )  # fmt: skip
    return SkopeoRun(
        "skopeo sync (one command, sequential)", time.perf_counter() - started, images.count
    )


def copy_each(source: Server, dest: Server, images: ImageSet, parallel: int) -> SkopeoRun:
    """`skopeo copy` of each image, `parallel` processes at a time."""
    src_host = source.base.removeprefix("http://")
    dst_host = dest.base.removeprefix("http://")
    refs = [f"{repo}:{tag}" for repo, tags in images.images.items() for tag in tags]

    def one(ref: str) -> None:
        _skopeo(
            [
                "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
                *_creds("src", source.push_auth), *_creds("dest", dest.push_auth),
                f"docker://{src_host}/{ref}", f"docker://{dst_host}/{ref}",
            ]
        )  # fmt: skip

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, refs))
    label = f"skopeo copy per image, {parallel} at a time" if parallel > 1 else "skopeo copy"
    return SkopeoRun(label, time.perf_counter() - started, len(refs))
