"""The rules of a replication policy as a table: name and tag patterns (Harbor's doublestar
globs) × repositories and tags, dest_namespace_replace_count × repositories (Harbor's
replaceNamespace), and the policy bodies parse_policy refuses, naming the field."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.replication_globs import PatternInvalid, check, literal_paths, match
from core.replication_rules import (
    NamespaceTooDeep,
    Rules,
    is_image,
    parse_policy,
)
from models import ReplicationPolicy
from models.values import ParameterInvalid

REPOSITORIES = ["library/app", "library/app/web", "team/app", "library/tools/cli", "busybox"]


def policy(**fields: Any) -> dict[str, Any]:
    """A push-mode policy body to registry 1, with fields added."""
    return {"name": "to-dc2", "dest_registry": {"id": 1}, **fields}


def rules(*filters: dict[str, Any], namespace: str = "", count: int = -1) -> Rules:
    body = policy(
        filters=list(filters), dest_namespace=namespace, dest_namespace_replace_count=count
    )
    return Rules.of_spec(parse_policy(body))


def name(pattern: str) -> dict[str, Any]:
    return {"type": "name", "value": pattern}


def tag(pattern: str, decoration: str = "") -> dict[str, Any]:
    return {"type": "tag", "value": pattern, "decoration": decoration}


@pytest.mark.parametrize(
    ("pattern", "copied"),
    [
        pytest.param("", REPOSITORIES, id="no-pattern-copies-all"),
        pytest.param("**", REPOSITORIES, id="doublestar-crosses-slashes"),
        pytest.param(
            "library/**",
            ["library/app", "library/app/web", "library/tools/cli"],
            id="project-and-below",
        ),
        pytest.param("library/*", ["library/app"], id="star-stays-in-one-part"),
        pytest.param("*", ["busybox"], id="star-alone-is-one-part"),
        pytest.param("**/app", ["library/app", "team/app"], id="any-depth-then-name"),
        pytest.param("library/**/cli", ["library/tools/cli"], id="doublestar-in-the-middle"),
        pytest.param("{library,team}/app", ["library/app", "team/app"], id="alternatives"),
        pytest.param("library/app{,/web}", ["library/app", "library/app/web"], id="empty-option"),
        pytest.param("library/ap?", ["library/app"], id="question-mark"),
        pytest.param("[lt]*/app", ["library/app", "team/app"], id="character-class"),
        pytest.param("[^l]*/app", ["team/app"], id="negated-class"),
        pytest.param("library/app", ["library/app"], id="literal"),
        pytest.param("library", [], id="project-alone-matches-no-repository"),
    ],
)
def test_name_patterns_choose_repositories(pattern: str, copied: list[str]) -> None:
    chosen = rules(name(pattern))
    assert [r for r in REPOSITORIES if chosen.repository_matches(r)] == copied


@pytest.mark.parametrize(
    ("filters", "tags", "kept"),
    [
        pytest.param([], ["v1", "latest"], ["v1", "latest"], id="no-filter-keeps-all"),
        pytest.param([tag("v*")], ["v1", "v2", "latest"], ["v1", "v2"], id="matches"),
        pytest.param([tag("v*", "excludes")], ["v1", "latest"], ["latest"], id="excludes"),
        pytest.param([tag("{v1,latest}")], ["v1", "v2", "latest"], ["v1", "latest"], id="alts"),
        pytest.param([tag("release-*")], ["v1"], [], id="none-left-not-copied"),
        pytest.param(
            [tag("v*"), tag("*-rc", "excludes")], ["v1", "v2-rc", "x"], ["v1"], id="in-order"
        ),
        pytest.param([], [], True, id="untagged-no-filter"),
        pytest.param([tag("*")], [], True, id="untagged-star-matches-empty"),
        pytest.param([tag("**")], [], True, id="untagged-doublestar"),
        pytest.param([tag("v*")], [], False, id="untagged-prefix-does-not"),
        pytest.param([tag("v*", "excludes")], [], True, id="untagged-excluded-prefix"),
        pytest.param([tag("*", "excludes")], [], False, id="untagged-excluded-star"),
    ],
)
def test_tag_filters_keep_tags_and_decide_untagged_artifacts(
    filters: list[dict[str, Any]], tags: list[str], kept: list[str] | bool
) -> None:
    assert rules(*filters).tag_matches(tags) == kept


# Harbor's replaceNamespace (src/controller/replication/flow/stage.go, v2.4.0 and later) and
# its tests (stage_test.go TestReplaceNamespace)
@pytest.mark.parametrize(
    ("repository", "namespace", "count", "destination"),
    [
        pytest.param("a/b/c/image", "", 2, "a/b/c/image", id="no-namespace-unchanged"),
        pytest.param("a/b/c/image", "n", -1, "n/image", id="legacy-keeps-the-name-only"),
        pytest.param("b/c", "n", -1, "n/c", id="legacy-one-part-before"),
        pytest.param("c", "n", -1, "n/c", id="legacy-no-part-before"),
        pytest.param("a/b/c/image", "n", 0, "n/a/b/c/image", id="zero-prefixes"),
        pytest.param("a/b/c/image", "n", 1, "n/b/c/image", id="one-replaced"),
        pytest.param("a/b/c/image", "n", 2, "n/c/image", id="two-replaced"),
        pytest.param("a/b/c/image", "n", 3, "n/image", id="all-before-the-name"),
        pytest.param("a", "n", 0, "n/a", id="zero-single-part"),
        pytest.param("library/app", "dc2/mirror", 1, "dc2/mirror/app", id="deep-namespace"),
    ],
)
def test_destination_names_follow_harbors_replace_count(
    repository: str, namespace: str, count: int, destination: str
) -> None:
    assert rules(namespace=namespace, count=count).destination(repository) == destination


@pytest.mark.parametrize(
    ("repository", "count"),
    [
        pytest.param("a/b/c/image", 4, id="one-too-many-the-name-is-never-replaced"),
        pytest.param("a/b", 2, id="the-name-stays"),
        pytest.param("app", 1, id="nothing-before-the-name"),
        pytest.param("a/b/c/image", 5, id="past-the-name"),
    ],
)
def test_a_replace_count_past_the_parts_is_refused(repository: str, count: int) -> None:
    with pytest.raises(NamespaceTooDeep) as refused:
        rules(namespace="n", count=count).destination(repository)
    assert repository in refused.value.message


def test_a_stored_policy_gives_the_same_rules() -> None:
    row = ReplicationPolicy(
        name="p",
        src_registry_id=3,
        filters=[name("library/**"), tag("v*")],
        dest_namespace="mirror",
        dest_namespace_replace_count=1,
    )
    stored = Rules.of(row)
    assert stored.repository_matches("library/app/web")
    assert stored.tag_matches(["v1", "x"]) == ["v1"]
    # pull mode: the destination is this Berth, whose repositories live in projects
    assert stored.destination("library/app/web") == "mirror/app/web"
    assert stored.min_parts == 2


def test_labels_match_as_harbor_and_berth_has_none_yet() -> None:
    assert rules().label_matches([])
    assert not rules({"type": "label", "value": ["prod"]}).label_matches([])
    assert rules({"type": "label", "value": ["prod"], "decoration": "excludes"}).label_matches([])
    assert rules({"type": "label", "value": ["prod"]}).label_matches(["prod", "x"])


@pytest.mark.parametrize(
    ("media_type", "artifact_type", "config", "image"),
    [
        pytest.param("application/vnd.oci.image.manifest.v1+json", "", "", True, id="oci-image"),
        pytest.param("application/vnd.oci.image.index.v1+json", "", "", True, id="oci-index"),
        pytest.param(
            "application/vnd.docker.distribution.manifest.v2+json",
            "",
            "application/vnd.docker.container.image.v1+json",
            True,
            id="docker-image",
        ),
        pytest.param(
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.example.sbom",
            "",
            False,
            id="artifact-type",
        ),
        pytest.param(
            "application/vnd.oci.image.manifest.v1+json",
            "",
            "application/vnd.cncf.helm.config.v1+json",
            False,
            id="helm-chart",
        ),
    ],
)
def test_the_resource_filter_tells_images_from_other_artifacts(
    media_type: str, artifact_type: str, config: str, image: bool
) -> None:
    assert is_image(media_type, artifact_type, config) is image
    only_images = rules({"type": "resource", "value": "image"})
    only_artifacts = rules({"type": "resource", "value": "artifact"})
    assert only_images.resource_matches(media_type, artifact_type, config) is image
    assert only_artifacts.resource_matches(media_type, artifact_type, config) is not image
    assert rules().resource_matches(media_type, artifact_type, config)


def test_a_policy_body_reads_back_with_harbors_defaults() -> None:
    spec = parse_policy(policy())
    assert (spec.src_registry_id, spec.dest_registry_id) == (None, 1)
    assert (spec.override, spec.enabled, spec.replicate_deletion) == (True, True, False)
    assert (spec.dest_namespace_replace_count, spec.speed) == (-1, 0)
    assert spec.trigger == {"type": "manual", "trigger_settings": {"cron": ""}}
    assert spec.schedule_cron is None


def test_a_scheduled_trigger_has_its_cron_in_the_schedule_tables_order() -> None:
    body = policy(trigger={"type": "scheduled", "trigger_settings": {"cron": "0 30 2 * * *"}})
    spec = parse_policy(body)
    assert spec.trigger["trigger_settings"]["cron"] == "0 30 2 * * *"
    assert spec.schedule_cron == "30 2 * * * 0"


def test_an_update_keeps_what_the_body_leaves_out() -> None:
    row = ReplicationPolicy(
        name="p", dest_registry_id=4, override=False, speed=512, filters=[name("a/**")]
    )
    spec = parse_policy({"description": "nightly", "deletion": True}, row)
    assert (spec.name, spec.dest_registry_id, spec.override, spec.speed) == ("p", 4, False, 512)
    assert spec.replicate_deletion and spec.filters == [name("a/**")]
    assert spec.description == "nightly"


def scheduled(cron: str) -> dict[str, Any]:
    return {"type": "scheduled", "trigger_settings": {"cron": cron}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"dest_registry": {"id": 1}}, "name", id="no-name"),
        pytest.param(policy(name="x" * 1000), "name", id="name-too-long"),
        pytest.param(policy(name=42), "name", id="name-not-text"),
        pytest.param({"name": "p"}, "src_registry", id="neither-side"),
        pytest.param(policy(src_registry={"id": 2}), "src_registry", id="both-sides"),
        pytest.param(policy(dest_registry={"id": "1"}), "dest_registry.id", id="id-not-number"),
        pytest.param(policy(dest_registry={"id": -3}), "dest_registry.id", id="id-negative"),
        pytest.param(policy(dest_registry=7), "dest_registry", id="side-not-object"),
        pytest.param(policy(dest_namespace="Bad Name"), "dest_namespace", id="bad-namespace"),
        pytest.param(policy(dest_namespace_replace_count=-2), "dest_namespace_replace_count"),
        pytest.param(policy(dest_namespace_replace_count=200), "dest_namespace_replace_count"),
        pytest.param(
            policy(
                filters=[name("library/app")], dest_namespace="n", dest_namespace_replace_count=2
            ),
            "dest_namespace_replace_count",
            id="too-deep-for-a-literal-name",
        ),
        pytest.param(
            policy(
                filters=[name("{a,b/c}/app")], dest_namespace="n", dest_namespace_replace_count=2
            ),
            "dest_namespace_replace_count",
            id="too-deep-for-one-alternative",
        ),
        pytest.param(
            {"name": "p", "src_registry": {"id": 1}, "filters": [name("busybox")]},
            "dest_namespace",
            id="pulled-name-needs-a-project",
        ),
        pytest.param(policy(filters="name"), "filters", id="filters-not-a-list"),
        pytest.param(policy(filters=[{"type": "path"}]), "filters[0].type", id="filter-type"),
        pytest.param(policy(filters=[name("[abc")]), "filters[0].value", id="unclosed-class"),
        pytest.param(policy(filters=[name("{a,b")]), "filters[0].value", id="unclosed-brace"),
        pytest.param(policy(filters=[name(3)]), "filters[0].value", id="pattern-not-text"),
        pytest.param(
            policy(filters=[{"type": "name", "value": "a", "decoration": "excludes"}]),
            "filters[0].decoration",
            id="name-has-no-decoration",
        ),
        pytest.param(policy(filters=[tag("v*", "maybe")]), "filters[0].decoration"),
        pytest.param(policy(filters=[{"type": "resource", "value": "chart"}]), "filters[0].value"),
        pytest.param(policy(filters=[{"type": "label", "value": "prod"}]), "filters[0].value"),
        pytest.param(policy(filters=[name("*")] * 21), "filters", id="too-many-filters"),
        pytest.param(policy(trigger={"type": "hourly"}), "trigger.type", id="trigger-type"),
        pytest.param(
            policy(trigger={"type": "scheduled"}), "trigger.trigger_settings.cron", id="no-cron"
        ),
        pytest.param(
            policy(trigger=scheduled("0 0 * * *")), "trigger.trigger_settings.cron", id="5-fields"
        ),
        pytest.param(
            policy(trigger=scheduled("5 0 0 * * *")), "trigger.trigger_settings.cron", id="secs"
        ),
        pytest.param(
            policy(trigger=scheduled("0 * 1 * * *")),
            "trigger.trigger_settings.cron",
            id="every-minute",
        ),
        pytest.param(
            policy(trigger=scheduled("0 0 0 31 2 *")),
            "trigger.trigger_settings.cron",
            id="never-fires",
        ),
        pytest.param(
            policy(trigger=scheduled("0 0 0 99 * *")),
            "trigger.trigger_settings.cron",
            id="not-a-cron",
        ),
        pytest.param(
            policy(trigger={"type": "event_based"}, single_active_replication=True),
            "single_active_replication",
            id="single-active-with-events",
        ),
        pytest.param(
            {"name": "p", "src_registry": {"id": 1}, "trigger": {"type": "event_based"}},
            "trigger.type",
            id="events-in-pull-mode",
        ),
        pytest.param(policy(enabled="maybe"), "enabled", id="enabled-not-boolean"),
        pytest.param(policy(speed="fast"), "speed", id="speed-not-number"),
        pytest.param(policy(speed=2**40), "speed", id="speed-too-large"),
    ],
)
def test_bad_policy_bodies_are_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        parse_policy(body)
    assert refused.value.parameter == field


def test_literal_paths_are_what_harbor_calls_specific() -> None:
    assert literal_paths("library/app") == ["library/app"]
    assert literal_paths("{library,team}/app") == ["library/app", "team/app"]
    assert literal_paths("library/*") is None
    assert literal_paths("library/**") is None
    assert literal_paths("") is None


@pytest.mark.parametrize("pattern", ["[]", "[-a]", "[a-]", "a\\", "{a,{b}", "[z"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternInvalid):
        check(pattern)


def test_many_stars_match_in_linear_time() -> None:
    started = time.monotonic()
    assert not match("*a" * 60 + "b", "a" * 255)
    assert time.monotonic() - started < 1
