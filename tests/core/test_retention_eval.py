"""The retention evaluator as a table: given rules, a repository's artifacts (tags, push and
pull times) and now, exactly these digests stay and the others go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import retention_eval as ev
from core.retention_rules import parse_policy, rules_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ALL_TAGS = ev.Selector(ev.MATCHES, "**")


def art(digest: str, *tags: str, pushed: int = 100, pulled: int | None = None) -> ev.Candidate:
    """An artifact of repository "app" pushed `pushed` days ago, pulled `pulled` days ago."""
    return ev.Candidate(
        "app",
        digest,
        tuple(tags),
        NOW - timedelta(days=pushed),
        None if pulled is None else NOW - timedelta(days=pulled),
    )


def rule(template: str, n: int = 0, *tag: ev.Selector, **kw: object) -> ev.Rule:
    return ev.Rule(template, n, tag or (ALL_TAGS,), **kw)  # type: ignore[arg-type]


# Five artifacts: a..e pushed 1, 2, 3, 10, 40 days ago; b and d pulled, e untagged.
REPO = [
    art("a", "v5", "latest", pushed=1),
    art("b", "v4", pushed=2, pulled=1),
    art("c", "dev-3", pushed=3),
    art("d", "v2", pushed=10, pulled=20),
    art("e", pushed=40),
]

CASES = [
    pytest.param([rule(ev.LATEST_PUSHED, 2)], REPO, "ab", id="latestPushedK keeps the 2 newest"),
    pytest.param([rule(ev.LATEST_PUSHED, 0)], REPO, "", id="latestPushedK 0 keeps nothing"),
    pytest.param([rule(ev.LATEST_PUSHED, 99)], REPO, "abcde", id="K past the count keeps all"),
    pytest.param([rule(ev.LATEST_PULLED, 1)], REPO, "b", id="latestPulledN keeps the last pulled"),
    pytest.param(
        [rule(ev.LATEST_PULLED, 3)], REPO, "bda", id="never pulled fill the N in digest order"
    ),
    pytest.param([rule(ev.DAYS_SINCE_PUSH, 5)], REPO, "abc", id="nDaysSinceLastPush"),
    pytest.param([rule(ev.DAYS_SINCE_PUSH, 10)], REPO, "abcd", id="the N-th day itself counts"),
    pytest.param([rule(ev.DAYS_SINCE_PULL, 7)], REPO, "b", id="nDaysSinceLastPull"),
    pytest.param([rule(ev.DAYS_SINCE_PULL, 30)], REPO, "bd", id="never pulled is not within"),
    pytest.param([rule(ev.ALWAYS)], REPO, "abcde", id="always keeps all"),
    pytest.param(
        [rule(ev.ALWAYS, 0, ev.Selector(ev.MATCHES, "v*"))],
        REPO,
        "abde",
        id="matches v* + untagged",
    ),
    pytest.param(
        [rule(ev.ALWAYS, 0, ev.Selector(ev.MATCHES, "v*", untagged=False))],
        REPO,
        "abd",
        id="matches without untagged",
    ),
    pytest.param(
        [rule(ev.ALWAYS, 0, ev.Selector(ev.EXCLUDES, "v*", untagged=False))],
        REPO,
        "ac",
        id="excludes v*: any tag outside it (latest) counts",
    ),
    pytest.param(
        [rule(ev.ALWAYS, 0, ev.Selector(ev.EXCLUDES, "{v*,latest}", untagged=True))],
        REPO,
        "ce",
        id="excludes with untagged",
    ),
    pytest.param(
        [rule(ev.LATEST_PUSHED, 1, ev.Selector(ev.MATCHES, "v*", untagged=False))],
        REPO,
        "a",
        id="the K counts among matched only",
    ),
    pytest.param(
        [rule(ev.LATEST_PUSHED, 1), rule(ev.DAYS_SINCE_PULL, 5)],
        REPO,
        "ab",
        id="or: either rule keeps",
    ),
    pytest.param(
        [rule(ev.ALWAYS, disabled=True), rule(ev.LATEST_PUSHED, 1)],
        REPO,
        "a",
        id="a disabled rule keeps nothing",
    ),
    pytest.param(
        [rule(ev.ALWAYS, disabled=True)],
        REPO,
        "abcde",
        id="only disabled rules: repository untouched",
    ),
    pytest.param(
        [rule(ev.ALWAYS, scope_selectors=(ev.Selector(ev.REPO_MATCHES, "other"),))],
        REPO,
        "abcde",
        id="scope not matching: repository untouched",
    ),
    pytest.param(
        [
            rule(ev.ALWAYS, scope_selectors=(ev.Selector(ev.REPO_EXCLUDES, "app"),)),
            rule(ev.LATEST_PUSHED, 2, scope_selectors=(ev.Selector(ev.REPO_MATCHES, "a*"),)),
        ],
        REPO,
        "ab",
        id="only the rules whose scope takes the repository",
    ),
    pytest.param(
        [rule(ev.LATEST_PUSHED, 2)],
        [art("y", "1", pushed=5), art("x", "2", pushed=5), art("z", "3", pushed=5)],
        "xy",
        id="ties: digest order decides",
    ),
    pytest.param([rule(ev.LATEST_PUSHED, 1)], [], "", id="an empty repository"),
]


@pytest.mark.parametrize(("rules", "artifacts", "kept"), CASES)
def test_the_rules_keep_exactly(
    rules: list[ev.Rule], artifacts: list[ev.Candidate], kept: str
) -> None:
    verdict = ev.evaluate(rules, artifacts, NOW)
    assert sorted(c.digest for c in verdict.retained) == sorted(kept)
    assert {c.digest for c in verdict.deleted} == {c.digest for c in artifacts} - set(kept)


def test_a_stored_policy_evaluates_as_its_body_says() -> None:
    body = {
        "rules": [
            {
                "template": "latestPushedK",
                "params": {"latestPushedK": 1},
                "tag_selectors": [
                    {
                        "kind": "doublestar",
                        "decoration": "matches",
                        "pattern": "v*",
                        "extras": '{"untagged":false}',
                    }
                ],
                "scope_selectors": {
                    "repository": [
                        {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
                    ]
                },
            },
            {
                "template": "always",
                "tag_selectors": [
                    {"kind": "doublestar", "decoration": "matches", "pattern": "dev-*"}
                ],
            },
        ],
        "scope": {"level": "project", "ref": 1},
    }
    rules = rules_of(parse_policy(body).rules)
    assert sorted(c.digest for c in ev.evaluate(rules, REPO, NOW).retained) == ["a", "c", "e"]


def test_repository_selectors_match_the_name_inside_the_project() -> None:
    scoped = rule(ev.ALWAYS, scope_selectors=(ev.Selector(ev.REPO_MATCHES, "team/**"),))
    assert ev.rules_for([scoped], "team/web") == [scoped]
    assert ev.rules_for([scoped], "other/web") == []
