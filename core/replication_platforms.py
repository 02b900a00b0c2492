"""The platform filter of a replication policy, Berth's extension of Harbor's filters:
`{"type": "platform", "value": "linux/amd64,linux/arm64/v8"}` copies, of each image index,
only the children built for those platforms, and then the index itself byte for byte — so
the destination holds a sparse index (core.registry, the project setting sparse_index) under
the source's digest. Pure: no database, no network.

A child is kept when its descriptor's platform is one of the list (a platform without a
variant takes any variant; arm64 without one is arm64/v8, as containerd reads it), when it
has no platform at all (nothing to tell it by: an artifact, a nested index), or when it is
an attestation (BuildKit's `vnd.docker.reference.type`) of a child that is kept. An image
that is no index is copied whole: its platform is in its config, which the filter does not
read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from models.errors import InvalidInput

PLATFORM = "platform"
MAX_PLATFORMS = 32
_PART = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
_REFERENCE_TYPE = "vnd.docker.reference.type"
_REFERENCE_DIGEST = "vnd.docker.reference.digest"
_DEFAULT_VARIANTS = {"arm64": "v8"}


class PlatformInvalid(ValueError):
    """A platform filter's value that is no list of os/architecture[/variant]; reason says
    which entry and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SparseRefused(InvalidInput):
    """The destination does not take an index whose children are not all there (a project
    without sparse_index, a registry that checks every child): trying again will not help."""


@dataclass(frozen=True, slots=True)
class Platform:
    """One entry of the filter; variant "" takes any variant."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, platform: dict[str, Any]) -> bool:
        """Whether an index entry's platform object is this one."""
        architecture = str(platform.get("architecture") or "")
        if str(platform.get("os") or "") != self.os or architecture != self.architecture:
            return False
        if not self.variant:
            return True
        variant = str(platform.get("variant") or _DEFAULT_VARIANTS.get(architecture, ""))
        return variant == self.variant


def parse_platforms(value: str) -> tuple[Platform, ...]:
    """The Platforms of a filter's value ("linux/amd64, linux/arm64/v8"), in order and
    without repeats. PlatformInvalid naming the entry that is not os/architecture[/variant]."""
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        raise PlatformInvalid("must name at least one platform, as os/architecture[/variant]")
    if len(entries) > MAX_PLATFORMS:
        raise PlatformInvalid(f"may name at most {MAX_PLATFORMS} platforms")
    found: list[Platform] = []
    for entry in entries:
        parts = entry.split("/")
        if not 2 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts):
            raise PlatformInvalid(
                f"{entry!r} is not os/architecture[/variant] (lower-case letters, digits,"
                " . _ -), e.g. linux/amd64 or linux/arm/v7"
            )
        platform = Platform(*parts)
        if platform not in found:
            found.append(platform)
    return tuple(found)


def spelled(platforms: tuple[Platform, ...]) -> str:
    """The filter's value as stored: "linux/amd64,linux/arm64"."""
    return ",".join(str(p) for p in platforms)


def left_out(index: bytes, platforms: tuple[Platform, ...]) -> dict[str, str]:
    """The children of an index (its bytes, already checked by core.manifests) that the
    platform filter leaves out, each with why; {} without a filter."""
    if not platforms:
        return {}
    entries = [e for e in json.loads(index).get("manifests") or [] if isinstance(e, dict)]
    dropped: dict[str, str] = {}
    for entry in entries:
        platform = entry.get("platform")
        if _attests(entry) or not isinstance(platform, dict):
            continue
        if not any(p.matches(platform) for p in platforms):
            shown = Platform(
                str(platform.get("os") or "?"),
                str(platform.get("architecture") or "?"),
                str(platform.get("variant") or ""),
            )
            dropped[str(entry.get("digest"))] = f"{shown} is not in the platform filter"
    for entry in entries:  # an attestation goes where the image it describes goes
        described = _attests(entry)
        if described in dropped:
            dropped[str(entry.get("digest"))] = f"it attests {described}, which is left out"
    return dropped


def _attests(entry: dict[str, Any]) -> str:
    """The digest an attestation manifest describes (BuildKit's annotations), else ""."""
    annotations = entry.get("annotations")
    if not isinstance(annotations, dict):
        return ""
    if annotations.get(_REFERENCE_TYPE) != "attestation-manifest":
        return ""
    return str(annotations.get(_REFERENCE_DIGEST) or "")
