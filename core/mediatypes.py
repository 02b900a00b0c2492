"""Manifest media types the registry stores, and Accept-header negotiation."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_ARTIFACT = "application/vnd.oci.artifact.manifest.v1+json"  # 1.1 release candidates
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_MANIFESTS | INDEXES | {OCI_ARTIFACT}

# Layers a registry is not required to hold (their bytes live at `urls`).
NON_DISTRIBUTABLE = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


def accepted_types(accept_headers: list[str]) -> set[str]:
    """Media types named in Accept headers (each may list several, with parameters)."""
    types: set[str] = set()
    for header in accept_headers:
        for part in header.split(","):
            media = part.split(";", 1)[0].strip().lower()
            if media:
                types.add(media)
    return types


def acceptable(media_type: str, accept_headers: list[str]) -> bool:
    """A client that names manifest types gets only those; one that names none gets any."""
    types = accepted_types(accept_headers)
    if not types & MANIFEST_TYPES or "*/*" in types:
        return True
    return media_type in types
