"""skopeo copies, inspects, lists and deletes images in Berth."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.peers import Skopeo
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT_ANY = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"

admin = httpx.Client(auth=ADMIN, timeout=60)  # the test admin's Basic credentials


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class OciImage:
    """An image written to an OCI layout directory, with the exact bytes of each part."""

    manifest: bytes
    digest: str
    blobs: dict[str, bytes]  # digest -> content, for the config and every layer


def tar_gz_of(name: str, content: bytes) -> tuple[bytes, bytes]:
    """A one-file layer: (gzipped tar, plain tar) — the config names the plain one."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(plain.getvalue(), mtime=0), plain.getvalue()


def write_oci_layout(directory: Path, tag: str, files: dict[str, bytes]) -> OciImage:
    """Write an image with one layer per file as an OCI image layout, by hand."""
    blobs: dict[str, bytes] = {}
    layers, diff_ids = [], []
    for name, content in files.items():
        compressed, plain = tar_gz_of(name, content)
        blobs[sha256(compressed)] = compressed
        layers.append(
            {"mediaType": OCI_LAYER, "digest": sha256(compressed), "size": len(compressed)}
        )
        diff_ids.append(sha256(plain))
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    blobs[sha256(config)] = config
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": layers,
        },
        indent=2,  # not canonical on purpose: the registry must keep the bytes as pushed
    ).encode()
    blob_dir = directory / "blobs" / "sha256"
    blob_dir.mkdir(parents=True)
    for digest, content in {**blobs, sha256(manifest): manifest}.items():
        (blob_dir / digest.removeprefix("sha256:")).write_bytes(content)
    descriptor = {"mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest)}
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (directory / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [descriptor]})
    )
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return OciImage(manifest, sha256(manifest), blobs)


def random_image(directory: Path, tag: str = "v1") -> OciImage:
    files = {"data/a.bin": os.urandom(1024 * 1024), "data/b.bin": os.urandom(300 * 1024)}
    return write_oci_layout(directory, tag, {**files, "etc/tag": tag.encode()})


def manifest_status(registry: RunningBerth, repo: str, reference: str) -> int:
    url = f"{registry.url}/v2/{repo}/manifests/{reference}"
    return admin.get(url, headers={"Accept": ACCEPT_ANY}).status_code


def push(skopeo: Skopeo, layout: Path, tag: str, dest: str, *flags: str) -> None:
    skopeo("copy", "--dest-tls-verify=false", *flags, f"oci:{layout}:{tag}", f"docker://{dest}")


def test_oci_image_is_stored_byte_for_byte(
    skopeo: Skopeo, registry: RunningBerth, tmp_path: Path
) -> None:
    # Given an image in an OCI layout on disk
    image = random_image(tmp_path / "layout")
    dest = f"{registry.host}/library/skopeo-oci:v1"

    # When skopeo copies it to Berth unchanged
    push(skopeo, tmp_path / "layout", "v1", dest, "--format", "oci")

    # Then the manifest read back is the very bytes pushed, under their digest
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{dest}").stdout
    assert raw.encode() == image.manifest
    served = admin.get(
        f"{registry.url}/v2/library/skopeo-oci/manifests/v1", headers={"Accept": ACCEPT_ANY}
    )
    assert served.headers["Docker-Content-Digest"] == image.digest
    assert served.headers["Content-Type"] == OCI_MANIFEST
    assert served.content == image.manifest


def test_copy_as_docker_schema2(skopeo: Skopeo, registry: RunningBerth, tmp_path: Path) -> None:
    # Given an OCI image on disk
    random_image(tmp_path / "layout")
    dest = f"{registry.host}/library/skopeo-v2s2:v1"

    # When skopeo converts it to Docker schema 2 on the way to Berth
    push(skopeo, tmp_path / "layout", "v1", dest, "--format", "v2s2")

    # Then Berth serves a Docker schema 2 manifest with Docker layer types, digest intact
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{dest}").stdout.encode()
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert {layer["mediaType"] for layer in manifest["layers"]} == {DOCKER_LAYER}
    served = admin.get(
        f"{registry.url}/v2/library/skopeo-v2s2/manifests/v1", headers={"Accept": ACCEPT_ANY}
    )
    assert served.headers["Content-Type"] == DOCKER_MANIFEST
    assert served.headers["Docker-Content-Digest"] == sha256(raw)


def test_list_tags(skopeo: Skopeo, registry: RunningBerth, tmp_path: Path) -> None:
    # Given one image pushed under three tags
    random_image(tmp_path / "layout")
    for tag in ("3.0", "latest", "1.0"):
        push(skopeo, tmp_path / "layout", "v1", f"{registry.host}/library/skopeo-tags:{tag}")

    # When skopeo lists the repository's tags
    out = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/library/skopeo-tags")

    # Then all three are there
    listing = json.loads(out.stdout)
    assert sorted(listing["Tags"]) == ["1.0", "3.0", "latest"]


def test_delete_removes_the_manifest_and_every_tag_on_it(
    skopeo: Skopeo, registry: RunningBerth, tmp_path: Path
) -> None:
    # Given an image tagged twice, and another image in the same repository
    doomed = random_image(tmp_path / "doomed")
    kept = random_image(tmp_path / "kept")
    repo = f"{registry.host}/library/skopeo-delete"
    push(skopeo, tmp_path / "doomed", "v1", f"{repo}:one")
    push(skopeo, tmp_path / "doomed", "v1", f"{repo}:two")
    push(skopeo, tmp_path / "kept", "v1", f"{repo}:kept")

    # When skopeo deletes the image through one of its tags
    skopeo("delete", "--tls-verify=false", f"docker://{repo}:one")

    # Then the manifest is gone by digest and by both tags; the other image stays
    assert manifest_status(registry, "library/skopeo-delete", doomed.digest) == 404
    assert manifest_status(registry, "library/skopeo-delete", "one") == 404
    assert manifest_status(registry, "library/skopeo-delete", "two") == 404
    assert manifest_status(registry, "library/skopeo-delete", kept.digest) == 200
    tags = skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout
    assert json.loads(tags)["Tags"] == ["kept"]


def test_copy_back_to_an_oci_layout(skopeo: Skopeo, registry: RunningBerth, tmp_path: Path) -> None:
    # Given an OCI image pushed to Berth
    image = random_image(tmp_path / "layout")
    source = f"docker://{registry.host}/library/skopeo-roundtrip:v1"
    push(skopeo, tmp_path / "layout", "v1", source.removeprefix("docker://"))

    # When skopeo copies it back into a fresh OCI layout
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", source, f"oci:{back}:v1")

    # Then the layout holds the same manifest and the same blobs, byte for byte
    index = json.loads((back / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]
    for digest, content in image.blobs.items():
        blob = back / "blobs" / "sha256" / digest.removeprefix("sha256:")
        assert blob.read_bytes() == content, f"blob {digest} differs after the round trip"
