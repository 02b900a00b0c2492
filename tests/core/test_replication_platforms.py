"""The platform filter of a replication policy (Berth's extension of Harbor's filters): the
values parse_policy takes and refuses, and which children of an index it leaves out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.replication_platforms import Platform, left_out
from core.replication_rules import Rules, parse_policy
from models import ReplicationPolicy
from models.values import ParameterInvalid

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ATTESTATION = {
    "vnd.docker.reference.type": "attestation-manifest",
    "vnd.docker.reference.digest": "",
}


def policy(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"name": "to-edge", "dest_registry": {"id": 1}, "filters": list(filters)}


def platform(value: object, **more: Any) -> dict[str, Any]:
    return {"type": "platform", "value": value, **more}


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def entry(n: int, platform: dict[str, str] | None, annotations: dict[str, str] | None = None):
    found: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest(n), "size": 100}
    if platform is not None:
        found["platform"] = platform
    if annotations:
        found["annotations"] = annotations
    return found


def index(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"schemaVersion": 2, "manifests": list(entries)}).encode()


def kept(value: str, body: bytes) -> list[str]:
    """The digests of the index a policy with this platform filter copies, in order."""
    platforms = Rules.of_spec(parse_policy(policy(platform(value)))).platforms
    dropped = left_out(body, platforms)
    return [m["digest"] for m in json.loads(body)["manifests"] if m["digest"] not in dropped]


LINUX_AMD64 = {"os": "linux", "architecture": "amd64"}
LINUX_ARM64 = {"os": "linux", "architecture": "arm64"}
LINUX_ARM64_V8 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
LINUX_ARM_V7 = {"os": "linux", "architecture": "arm", "variant": "v7"}
LINUX_ARM_V6 = {"os": "linux", "architecture": "arm", "variant": "v6"}
WINDOWS_AMD64 = {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}


@pytest.mark.parametrize(
    ("value", "platforms", "copied"),
    [
        pytest.param("linux/amd64", [LINUX_AMD64, LINUX_ARM64], [1], id="one-of-two"),
        pytest.param(
            "linux/amd64,linux/arm64", [LINUX_AMD64, LINUX_ARM64, LINUX_ARM_V7], [1, 2], id="two"
        ),
        pytest.param("linux/arm", [LINUX_ARM_V7, LINUX_ARM_V6, LINUX_AMD64], [1, 2], id="any-var"),
        pytest.param("linux/arm/v7", [LINUX_ARM_V7, LINUX_ARM_V6], [1], id="one-variant"),
        pytest.param("linux/arm64/v8", [LINUX_ARM64, LINUX_ARM64_V8], [1, 2], id="arm64-is-v8"),
        pytest.param("linux/amd64", [WINDOWS_AMD64, LINUX_AMD64], [2], id="os-counts"),
        pytest.param("windows/amd64", [WINDOWS_AMD64, LINUX_AMD64], [1], id="os-version-ignored"),
        pytest.param("linux/s390x", [LINUX_AMD64, LINUX_ARM64], [], id="none-match"),
        pytest.param(" linux/amd64 , linux/amd64 ", [LINUX_AMD64], [1], id="spaces-and-repeats"),
    ],
)
def test_the_platform_filter_keeps_the_children_of_its_platforms(
    value: str, platforms: list[dict[str, str]], copied: list[int]
) -> None:
    body = index(*(entry(n, p) for n, p in enumerate(platforms, start=1)))
    assert kept(value, body) == [digest(n) for n in copied]


def test_children_without_a_platform_are_kept_and_attestations_follow_their_image() -> None:
    # Given an index of two images, BuildKit's attestation of each, and an artifact with no
    # platform
    body = index(
        entry(1, LINUX_AMD64),
        entry(2, LINUX_ARM64),
        entry(3, {"os": "unknown", "architecture": "unknown"}, ATTESTATION | {
            "vnd.docker.reference.digest": digest(1)
        }),
        entry(4, {"os": "unknown", "architecture": "unknown"}, ATTESTATION | {
            "vnd.docker.reference.digest": digest(2)
        }),
        entry(5, None),
    )  # fmt: skip
    # When the filter keeps linux/amd64, then the amd64 image, its attestation and the
    # artifact are copied, and each left out child says why
    assert kept("linux/amd64", body) == [digest(1), digest(3), digest(5)]
    why = left_out(body, (Platform("linux", "amd64"),))
    assert why == {
        digest(2): "linux/arm64 is not in the platform filter",
        digest(4): f"it attests {digest(2)}, which is left out",
    }


def test_no_platform_filter_leaves_nothing_out() -> None:
    rules = Rules.of_spec(parse_policy(policy({"type": "name", "value": "library/**"})))
    assert rules.platforms == ()
    assert left_out(index(entry(1, LINUX_AMD64)), rules.platforms) == {}


def test_the_filter_is_stored_in_one_spelling_and_a_stored_policy_reads_it_back() -> None:
    # Given a body whose platform list has spaces and a repeat
    spec = parse_policy(policy(platform(" linux/amd64, linux/arm/v7 ,linux/amd64")))
    # Then it is kept as one comma-separated list, and the stored policy has the same rules
    assert spec.filters == [{"type": "platform", "value": "linux/amd64,linux/arm/v7"}]
    stored = ReplicationPolicy(**spec.columns())
    assert Rules.of(stored).platforms == (
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
    )


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param(policy(platform("")), "filters[0].value", "at least one", id="empty"),
        pytest.param(policy(platform("linux")), "filters[0].value", "'linux'", id="no-arch"),
        pytest.param(
            policy(platform("linux/amd64,amd64")), "filters[0].value", "'amd64'", id="one-bad"
        ),
        pytest.param(
            policy(platform("linux/arm/v7/extra")), "filters[0].value", "os/arch", id="four-parts"
        ),
        pytest.param(policy(platform("Linux/AMD64")), "filters[0].value", "lower", id="case"),
        pytest.param(policy(platform("linux//amd64")), "filters[0].value", "os/", id="empty-part"),
        pytest.param(policy(platform(["linux/amd64"])), "filters[0].value", "string", id="list"),
        pytest.param(
            policy(platform(",".join(["linux/amd64"] * 33))),
            "filters[0].value",
            "at most",
            id="too-many",
        ),
        pytest.param(
            policy(platform("linux/amd64", decoration="excludes")),
            "filters[0].decoration",
            "only tag and label",
            id="no-decoration",
        ),
        pytest.param(
            policy(platform("linux/amd64"), platform("linux/arm64")),
            "filters",
            "one platform filter",
            id="two-filters",
        ),
    ],
)
def test_bad_platform_filters_are_refused_naming_the_field(
    body: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        parse_policy(body)
    assert refused.value.parameter == field
    assert says in refused.value.message
