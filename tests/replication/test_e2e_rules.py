"""What a policy copies where: name and tag patterns over a few repositories, and
dest_namespace with dest_namespace_replace_count, each run from Berth to Distribution and
checked in Distribution's catalog (repository names and tags); and a signature in cosign's
tag scheme, which goes with its image whatever the tag filter says; and `override`."""

from __future__ import annotations

import uuid

import pytest

from tests.replication.support import (
    Peer,
    ReplicationApi,
    assert_succeeded,
    catalog,
    manifest_digest,
    push_tag_signature,
    push_tiny_images,
    tags,
)

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:6]
BASE = f"library/rules-{RUN}"  # the source repositories: BASE/app, BASE/tools/cli, BASE-other/app
APP, CLI, OTHER = f"{BASE}/app", f"{BASE}/tools/cli", f"{BASE}-other/app"
APP_TAGS = ["dev", "v1", "v2"]


@pytest.fixture(scope="module")
def source(berth_a: Peer) -> Peer:
    """Berth A holding the three repositories (each tag its own image)."""
    push_tiny_images(berth_a, APP, APP_TAGS)
    push_tiny_images(berth_a, CLI, ["v1"])
    push_tiny_images(berth_a, OTHER, ["v1"])
    return berth_a


@pytest.mark.parametrize(
    ("pattern", "tag", "count", "copied"),  # copied: names under NS, the policy's namespace
    [
        pytest.param(
            f"{BASE}/**", None, 0,
            {f"NS/{APP}": APP_TAGS, f"NS/{CLI}": ["v1"]},
            id="doublestar-crosses-parts-count-0-prefixes",
        ),
        pytest.param(
            f"{BASE}/*", None, 0, {f"NS/{APP}": APP_TAGS},
            id="star-stays-in-one-part",
        ),
        pytest.param(
            f"{BASE}/**", ("v*", "matches"), 0,
            {f"NS/{APP}": ["v1", "v2"], f"NS/{CLI}": ["v1"]},
            id="tag-matches",
        ),
        pytest.param(
            f"{BASE}/**", ("dev", "excludes"), 0,
            {f"NS/{APP}": ["v1", "v2"], f"NS/{CLI}": ["v1"]},
            id="tag-excludes",
        ),
        pytest.param(
            f"{BASE}/**", None, 1,
            {f"NS/rules-{RUN}/app": APP_TAGS, f"NS/rules-{RUN}/tools/cli": ["v1"]},
            id="count-1-replaces-the-project",
        ),
        pytest.param(
            f"{BASE}/**", None, 2, {"NS/app": APP_TAGS, "NS/tools/cli": ["v1"]},
            id="count-2",
        ),
        pytest.param(
            f"{BASE}/**", None, -1, {"NS/app": APP_TAGS, "NS/cli": ["v1"]},
            id="legacy-minus-1-keeps-the-last-part",
        ),
        pytest.param(
            f"{{{APP},{OTHER}}}", ("v1", "matches"), None, {APP: ["v1"], OTHER: ["v1"]},
            id="alternatives-without-namespace-keep-the-name",
        ),
    ],
)  # fmt: skip
def test_a_policy_copies_what_its_filters_match_where_its_namespace_says(
    api_a: ReplicationApi,
    source: Peer,
    distribution: Peer,
    unique: str,
    pattern: str,
    tag: tuple[str, str] | None,
    count: int | None,
    copied: dict[str, list[str]],
) -> None:
    # Given a policy from Berth A to Distribution with these filters and destination names
    namespace = f"ns-{unique}" if count is not None else ""
    registry = api_a.add_registry(distribution, name=f"rules-{unique}")
    policy = api_a.add_policy(
        f"rules-{unique}",
        destination=registry,
        repositories=pattern,
        tag=tag,
        dest_namespace=namespace,
        replace_count=count,
    )

    # When it runs
    execution = api_a.run(policy)

    # Then exactly the matching repositories and tags are at the names it says
    assert_succeeded(api_a, execution)
    expected = {name.replace("NS", namespace, 1): tags for name, tags in copied.items()}
    where = f"{namespace}/" if namespace else BASE
    assert catalog(distribution, where) == expected


def test_a_tag_scheme_signature_follows_its_subject_past_the_tag_filter(
    api_a: ReplicationApi, berth_a: Peer, distribution: Peer, unique: str
) -> None:
    # Given an image signed in cosign's tag scheme (sha256-<hex>.sig) at Berth A
    repository = f"library/signed-{unique}"
    subject = push_tiny_images(berth_a, repository, ["v1"])["v1"]
    signature = push_tag_signature(berth_a, repository, subject)
    # ... and a policy whose tag filter names only the image's tag
    registry = api_a.add_registry(distribution, name=f"signed-{unique}")
    policy = api_a.add_policy(
        f"signed-{unique}", destination=registry, repositories=repository, tag=("v1", "matches")
    )

    # When it runs
    execution = api_a.run(policy)

    # Then the signature is at Distribution under its tag, still naming the image
    assert_succeeded(api_a, execution)
    sig_tag = subject.replace(":", "-") + ".sig"
    assert tags(distribution, repository) == sorted(["v1", sig_tag])
    assert manifest_digest(distribution, repository, sig_tag) == signature
    assert manifest_digest(distribution, repository, "v1") == subject


@pytest.mark.parametrize(
    ("override", "kept"),
    [pytest.param(False, "theirs", id="kept"), pytest.param(True, "ours", id="overridden")],
)
def test_a_different_image_under_the_tag_at_the_destination_is_kept_unless_override(
    api_a: ReplicationApi,
    berth_a: Peer,
    distribution: Peer,
    unique: str,
    override: bool,
    kept: str,
) -> None:
    # Given v1 at Berth A, and another image already under v1 at Distribution
    repository = f"library/override-{unique}"
    ours = push_tiny_images(berth_a, repository, ["v1"])["v1"]
    theirs = push_tiny_images(distribution, repository, ["v1"])["v1"]
    registry = api_a.add_registry(distribution, name=f"override-{unique}")
    policy = api_a.add_policy(
        f"override-{unique}", destination=registry, repositories=repository, override=override
    )

    # When the policy runs
    execution = api_a.run(policy)

    # Then it succeeds, and Distribution's v1 is theirs without override, ours with it
    assert_succeeded(api_a, execution)
    assert manifest_digest(distribution, repository, "v1") == {"ours": ours, "theirs": theirs}[kept]
