"""Names, tags, digests and manifest validation: the grammar the spec gives."""

from __future__ import annotations

import json

import pytest

from core import mediatypes as mt
from core.digests import digest_of, parse_digest
from core.errors import DigestInvalid, ManifestInvalid, NameInvalid, TagInvalid
from core.manifests import parse_manifest
from core.names import validate_name, validate_tag

SHA = "sha256:" + "a" * 64
SHA2 = "sha256:" + "b" * 64


@pytest.mark.parametrize("name", ["library/app", "a/b/c", "my-org/app.v2", "p/a__b", "p/a--b"])
def test_valid_names_return_their_project(name: str) -> None:
    assert validate_name(name) == name.split("/")[0]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("library/App", id="uppercase"),
        pytest.param("library/../etc", id="dot-dot"),
        pytest.param("library/./x", id="dot"),
        pytest.param("library//x", id="empty-component"),
        pytest.param("library/-x", id="leading-separator"),
        pytest.param("app", id="no-project"),
        pytest.param("library/" + "a" * 250, id="too-long"),
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.0", "_x", "A" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a" * 129, "a/b", "a:b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_digest_parsing_accepts_sha256_and_sha512() -> None:
    assert parse_digest(SHA).algorithm == "sha256"
    assert parse_digest("sha512:" + "b" * 128).algorithm == "sha512"
    assert digest_of(b"", "sha512").startswith("sha512:cf83e135")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("sha256:abc", id="short"),
        pytest.param("sha256:" + "A" * 64, id="uppercase-hex"),
        pytest.param("md5:" + "a" * 32, id="unsupported-algorithm"),
        pytest.param("a" * 64, id="no-algorithm"),
        pytest.param("sha512:" + "a" * 64, id="sha512-wrong-length"),
    ],
)
def test_bad_digests_are_digest_invalid(text: str) -> None:
    with pytest.raises(DigestInvalid):
        parse_digest(text)


def image(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": SHA,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": SHA2, "size": 10}
        ],
    }
    doc.update(extra)
    return doc


def test_image_manifest_names_config_and_layers() -> None:
    parsed = parse_manifest(json.dumps(image()).encode(), mt.OCI_MANIFEST)
    assert [d.digest for d in parsed.blobs] == [SHA, SHA2]
    assert parsed.subject is None


def test_artifact_with_subject_takes_config_media_type_as_artifact_type() -> None:
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": SHA, "size": 5}
    parsed = parse_manifest(json.dumps(image(subject=subject)).encode(), None)
    assert parsed.subject is not None and parsed.subject.digest == SHA
    assert parsed.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_non_distributable_layers_need_not_be_present() -> None:
    layer = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": SHA,
        "size": 1,
        "urls": ["https://example.invalid/layer"],
    }
    parsed = parse_manifest(json.dumps(image(layers=[layer])).encode(), mt.OCI_MANIFEST)
    assert len(parsed.blobs) == 1  # only the config


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        pytest.param(b"{not json", mt.OCI_MANIFEST, "not valid JSON", id="malformed-json"),
        pytest.param(b"[]", mt.OCI_MANIFEST, "JSON object", id="array"),
        pytest.param(
            json.dumps(image(schemaVersion=1)).encode(), None, "schemaVersion", id="schema-1"
        ),
        pytest.param(
            json.dumps(image()).encode(),
            mt.DOCKER_MANIFEST,
            "does not match",
            id="header-body-mismatch",
        ),
        pytest.param(
            json.dumps(image(mediaType=None)).encode(),
            "text/plain",
            "unsupported",
            id="wrong-media-type",
        ),
        pytest.param(
            json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}).encode(),
            None,
            "config",
            id="no-config",
        ),
        pytest.param(
            json.dumps(image(layers=[{"digest": SHA, "size": 1}])).encode(),
            None,
            "mediaType",
            id="descriptor-without-media-type",
        ),
        pytest.param(
            json.dumps(image(layers=[{"mediaType": "x", "digest": "nope", "size": 1}])).encode(),
            None,
            "not a valid digest",
            id="descriptor-bad-digest",
        ),
        pytest.param(
            json.dumps(image(layers=[{"mediaType": "x", "digest": SHA, "size": -1}])).encode(),
            None,
            "non-negative",
            id="descriptor-negative-size",
        ),
        pytest.param(
            json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}).encode(),
            None,
            "manifests array",
            id="index-without-manifests",
        ),
        pytest.param(
            json.dumps({"schemaVersion": 2, "config": image()["config"], "layers": []}).encode(),
            mt.DOCKER_MANIFEST,
            "carry their mediaType",
            id="docker-without-media-type",
        ),
    ],
)
def test_malformed_manifests_are_manifest_invalid_with_reason(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(body, content_type)
    assert reason in caught.value.detail["reason"]


@pytest.mark.parametrize(
    ("stored", "accept", "ok"),
    [
        pytest.param(mt.OCI_INDEX, [], True, id="no-accept"),
        pytest.param(mt.OCI_INDEX, ["*/*"], True, id="wildcard"),
        pytest.param(
            mt.OCI_INDEX,
            [f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX};q=0.9"],
            True,
            id="listed-with-params",
        ),
        pytest.param(mt.OCI_INDEX, [mt.DOCKER_MANIFEST, mt.OCI_MANIFEST], False, id="not-listed"),
        pytest.param(mt.DOCKER_MANIFEST, ["application/json"], True, id="no-manifest-types"),
    ],
)
def test_accept_negotiation(stored: str, accept: list[str], ok: bool) -> None:
    assert mt.acceptable(stored, accept) is ok
