"""Tag immutability's selectors as a table (doublestar patterns, matches / excludes, on the
repository name after the project and on tags), and immutable_tags over real rules."""

from __future__ import annotations

from typing import Any

import pytest

from core import immutability
from core.immutability import RuleInvalid, Selector, immutable_tags, parse_rule
from core.service import Registry
from models import Project


@pytest.mark.parametrize(
    "decoration, pattern, value, selected",
    [
        pytest.param("matches", "v*", "v1.0", True, id="star"),
        pytest.param("matches", "v*", "latest", False, id="star-miss"),
        pytest.param("matches", "v?", "v1", True, id="question"),
        pytest.param("matches", "v?", "v10", False, id="question-one-only"),
        pytest.param("matches", "{latest,stable}", "stable", True, id="alternatives"),
        pytest.param("matches", "{latest,stable}", "dev", False, id="alternatives-miss"),
        pytest.param("matches", "v[0-9].*", "v1.2", True, id="class"),
        pytest.param("matches", "v[0-9].*", "va.2", False, id="class-miss"),
        pytest.param("matches", "release-{1,2}.*", "release-2.0", True, id="brace-and-star"),
        pytest.param("matches", "**", "anything-at-all", True, id="doublestar-tag"),
        pytest.param("excludes", "v*", "latest", True, id="excludes-other"),
        pytest.param("excludes", "v*", "v1", False, id="excludes-matching"),
        pytest.param("excludes", "{dev,test}-*", "1.0", True, id="excludes-alternatives"),
        pytest.param("repoMatches", "**", "app", True, id="repo-any"),
        pytest.param("repoMatches", "**", "team/app/web", True, id="repo-any-deep"),
        pytest.param("repoMatches", "*", "team/app", False, id="repo-star-one-part"),
        pytest.param("repoMatches", "team/**", "team/app/web", True, id="repo-under"),
        pytest.param("repoMatches", "team/**", "team", False, id="repo-under-needs-more"),
        pytest.param("repoMatches", "**/web", "web", True, id="repo-zero-parts"),
        pytest.param("repoMatches", "{app,web}", "web", True, id="repo-alternatives"),
        pytest.param("repoExcludes", "tmp/**", "tmp/x", False, id="repo-excludes-matching"),
        pytest.param("repoExcludes", "tmp/**", "app", True, id="repo-excludes-other"),
    ],
)
def test_a_selector_picks_what_doublestar_matches(
    decoration: str, pattern: str, value: str, selected: bool
) -> None:
    assert Selector(decoration, pattern).selects(value) is selected


def rule(
    tags: str, repos: str = "**", tag_decoration: str = "matches", **extra: Any
) -> dict[str, Any]:
    return {
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}]
        },
        **extra,
    }


@pytest.mark.parametrize(
    "body, words",
    [
        pytest.param(rule("v[1"), "tag_selectors", id="unclosed-class"),
        pytest.param(rule("v*", "{a,b"), "scope_selectors.repository", id="unclosed-brace"),
        pytest.param(rule("x" * 257), "1..256", id="long-pattern"),
        pytest.param(rule("v*", action="retain"), "action", id="action"),
        pytest.param({**rule("v*"), "scope_selectors": {"namespace": []}}, "repository", id="ns"),
        pytest.param({**rule("v*"), "tag_selectors": [{}, {}]}, "one selector", id="two"),
        pytest.param(rule("v*", priority=True), "priority", id="bool-priority"),
        pytest.param(rule("v*", params=[]), "params", id="params"),
    ],
)
def test_a_rule_body_is_refused_naming_the_field(body: dict[str, Any], words: str) -> None:
    with pytest.raises(RuleInvalid) as refused:
        parse_rule(body)
    assert words in refused.value.message


async def test_immutable_tags_answers_from_the_enabled_rules(registry: Registry) -> None:
    # Given a project with three rules: v* in app*, everything but latest in web, and a
    # disabled one protecting every tag everywhere
    project = await Project.create(name="immu")
    await immutability.create_rule(project.id, parse_rule(rule("v*", "app*")))
    await immutability.create_rule(
        project.id, parse_rule(rule("latest", "web", tag_decoration="excludes"))
    )
    await immutability.create_rule(project.id, parse_rule(rule("**", disabled=True)))
    tags = ["v1", "latest", "dev"]
    # Then each repository's immutable tags are those its enabled rules pick
    assert await immutable_tags(project.id, "immu/app", tags) == {"v1"}
    assert await immutable_tags(project.id, "immu/app-cli", tags) == {"v1"}
    assert await immutable_tags(project.id, "immu/web", tags) == {"v1", "dev"}
    assert await immutable_tags(project.id, "immu/team/app", tags) == set()
    assert await immutable_tags(project.id, "immu/app", []) == set()
    # And cosign's accessory tags are never immutable (Harbor keeps them as accessories)
    signature = "sha256-" + "a" * 64 + ".sig"
    assert await immutable_tags(project.id, "immu/web", [signature, "dev"]) == {"dev"}
    # And another project's rules protect nothing here
    other = await Project.create(name="other")
    assert await immutable_tags(other.id, "other/app", tags) == set()
