"""podman pushes a two-platform manifest list to Berth and pulls it back by digest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.peers import Podman
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
PLATFORMS = ("amd64", "arm64")

admin = httpx.Client(auth=ADMIN, timeout=60)  # the test admin's Basic credentials


def build_platform_image(builder: Podman, workdir: Path, arch: str) -> str:
    """A FROM-scratch image with one file naming its platform; returns its local name."""
    marker = workdir / f"platform-{arch}"
    marker.write_text(f"linux/{arch}\n")
    container = builder.buildah("from", "scratch").stdout.strip()
    builder.buildah("copy", container, str(marker), "/platform")
    builder.buildah("config", "--os", "linux", "--arch", arch, container)
    name = f"localhost/e2e-multi:{arch}"
    builder.buildah("commit", "--quiet", "--rm", container, name)
    return name


@pytest.mark.parametrize(
    ("list_format", "list_media_type"),
    [
        pytest.param("oci", OCI_INDEX, id="oci-index"),
        pytest.param("v2s2", DOCKER_LIST, id="docker-list"),
    ],
)
def test_manifest_list_push_and_pull_by_digest(
    podman_at: Callable[[str], Podman],
    registry: RunningBerth,
    tmp_path: Path,
    list_format: str,
    list_media_type: str,
) -> None:
    # Given a local manifest list of an amd64 and an arm64 image
    builder = podman_at("builder")
    builder("manifest", "create", "localhost/e2e-multi:list")
    for arch in PLATFORMS:
        image = build_platform_image(builder, tmp_path, arch)
        builder("manifest", "add", "localhost/e2e-multi:list", f"containers-storage:{image}")

    # When podman pushes the list and both images to Berth
    repo = f"library/podman-multi-{list_format}"
    digest_file = tmp_path / "digest"
    builder(
        "manifest", "push", "--all", "--tls-verify=false", "--format", list_format,
        "--digestfile", str(digest_file),
        "localhost/e2e-multi:list", f"docker://{registry.host}/{repo}:v1",
    )  # fmt: skip
    list_digest = digest_file.read_text().strip()

    # Then Berth serves the list by tag, under the digest podman computed, with both platforms
    served = admin.get(
        f"{registry.url}/v2/{repo}/manifests/v1",
        headers={"Accept": f"{OCI_INDEX}, {DOCKER_LIST}"},
    )
    assert served.status_code == 200, served.text
    assert served.headers["Content-Type"] == list_media_type
    assert served.headers["Docker-Content-Digest"] == list_digest
    listed = {m["platform"]["architecture"]: m["digest"] for m in served.json()["manifests"]}
    assert sorted(listed) == sorted(PLATFORMS)

    # ... and another machine pulls each platform through the list's digest
    puller = podman_at("puller")
    for arch in PLATFORMS:
        ref = f"{registry.host}/{repo}@{list_digest}"
        puller("pull", "--quiet", "--tls-verify=false", "--arch", arch, ref)
        inspect = "{{.Architecture}} {{range .RepoDigests}}{{.}} {{end}}"
        arch_seen, *repo_digests = puller(
            "image", "inspect", "--format", inspect, ref
        ).stdout.split()
        assert arch_seen == arch
        assert f"{registry.host}/{repo}@{listed[arch]}" in repo_digests
        puller("image", "rm", ref)
