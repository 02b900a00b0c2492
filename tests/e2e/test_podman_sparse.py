"""podman and a sparse index: in a project with sparse_index, `podman manifest push` of a
two-platform list whose arm64 image was pushed only to another project (its blobs and
manifest withheld from this one) is stored as podman made it; `podman pull --arch amd64`
then works, and `--arch arm64` fails with manifest unknown."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.factories import admin_client
from tests.peers import Podman
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sparse_project(server: RunningBerth) -> str:
    name = f"sparse-{uuid.uuid4().hex[:8]}"
    body = {"project_name": name, "metadata": {"sparse_index": "true"}}
    with admin_client(server) as admin:
        created = admin.post("/projects", json=body)
    assert created.status_code == 201, created.text
    return name


def platform_image(builder: Podman, workdir: Path, arch: str) -> str:
    """A FROM-scratch image for linux/<arch> with one file of its own; its local name."""
    marker = workdir / f"platform-{arch}"
    marker.write_text(f"linux/{arch} {uuid.uuid4().hex}\n")
    container = builder.buildah("from", "scratch").stdout.strip()
    builder.buildah("copy", container, str(marker), "/platform")
    builder.buildah("config", "--os", "linux", "--arch", arch, container)
    name = f"localhost/e2e-sparse:{arch}"
    builder.buildah("commit", "--quiet", "--rm", container, name)
    return name


def served(server: RunningBerth, repo: str, reference: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"},
        auth=ADMIN,
        timeout=60,
    )


def test_manifest_push_of_a_list_with_one_platform_withheld_then_pull_by_arch(
    berth_only: None,
    podman_at: Callable[[str], Podman],
    registry: RunningBerth,
    tmp_path: Path,
) -> None:
    # Given the amd64 image pushed into a project with sparse_index, and the arm64 image
    # only into another project: its blobs and manifest are withheld from the first
    builder = podman_at("builder")
    repo = f"{sparse_project(registry)}/app"
    elsewhere = f"library/sparse-staging-{uuid.uuid4().hex[:8]}"
    pushed = {}
    for arch, where in (("amd64", repo), ("arm64", elsewhere)):
        digest_file = tmp_path / f"digest-{arch}"
        builder(
            "push", "--tls-verify=false", "--format", "oci", "--digestfile", str(digest_file),
            platform_image(builder, tmp_path, arch), f"docker://{registry.host}/{where}:{arch}",
        )  # fmt: skip
        pushed[arch] = (where, digest_file.read_text().strip())
    # ... and a local two-platform list of those two pushed images
    builder("manifest", "create", "localhost/e2e-sparse:list")
    for where, digest in pushed.values():
        add = ("manifest", "add", "--tls-verify=false", "localhost/e2e-sparse:list")
        builder(*add, f"docker://{registry.host}/{where}@{digest}")

    # When podman pushes the list by itself into the first project
    digest_file = tmp_path / "digest"
    builder(
        "manifest", "push", "--all=false", "--tls-verify=false", "--format", "oci",
        "--digestfile", str(digest_file),
        "localhost/e2e-sparse:list", f"docker://{registry.host}/{repo}:v1",
    )  # fmt: skip
    list_digest = digest_file.read_text().strip()

    # Then Berth serves the list as podman computed it, naming both platforms
    index = served(registry, repo, "v1")
    assert index.status_code == 200, index.text
    assert index.headers["Docker-Content-Digest"] == list_digest
    children = {m["platform"]["architecture"]: m["digest"] for m in index.json()["manifests"]}
    assert children == {arch: digest for arch, (_, digest) in pushed.items()}
    # ... the amd64 image is there and the arm64 one is not
    assert served(registry, repo, children["amd64"]).status_code == 200
    absent = served(registry, repo, children["arm64"])
    assert absent.status_code == 404
    assert absent.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"

    # And another machine pulls amd64 through the list, while arm64 is manifest unknown
    puller = podman_at("puller")
    ref = f"{registry.host}/{repo}:v1"
    puller("pull", "--quiet", "--tls-verify=false", "--arch", "amd64", ref)
    seen = puller("image", "inspect", "--format", "{{.Architecture}}", ref).stdout.strip()
    assert seen == "amd64"
    puller("image", "rm", ref)
    refused = puller("pull", "--quiet", "--tls-verify=false", "--arch", "arm64", ref, check=False)
    assert refused.returncode != 0
    assert "manifest unknown" in refused.stderr.lower(), refused.stderr
