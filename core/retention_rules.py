"""What a retention policy body may say (Harbor's RetentionPolicy), checked field by field.

    {"algorithm": "or",
     "rules": [{"disabled": false, "action": "retain", "template": "latestPushedK",
                "params": {"latestPushedK": 3},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches",
                                   "pattern": "**", "extras": "{\"untagged\":true}"}],
                "scope_selectors": {"repository": [{"kind": "doublestar",
                                   "decoration": "repoMatches", "pattern": "**"}]}}],
     "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
     "scope": {"level": "project", "ref": 1}}

Bounds are Harbor's: at most 15 rules, no two alike (409), a count below 32767, days at most
20190904. A cron is Harbor's six fields (seconds first) or five; "" means no schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core import retention_eval as ev
from core.replication_globs import PatternInvalid
from core.replication_globs import check as check_pattern
from core.schedules import harbor_cron
from models.errors import AlreadyExists
from models.values import ParameterInvalid, check_text

MAX_RULES = 15
MAX_COUNT = 32766  # Harbor: below math.MaxInt16
MAX_DAYS = 20190904  # Harbor's bound, kept as it is
MAX_PATTERN = 1024
SCHEDULE = "Schedule"
_COUNTED = {ev.LATEST_PUSHED: MAX_COUNT, ev.LATEST_PULLED: MAX_COUNT}
_DAYS = {ev.DAYS_SINCE_PUSH: MAX_DAYS, ev.DAYS_SINCE_PULL: MAX_DAYS}
_BOUNDS = {**_COUNTED, **_DAYS}


class RuleConflict(AlreadyExists):
    """Harbor's 409: two rules of one policy say the same."""

    def __init__(self, index: int, other: int) -> None:
        super().__init__(f"rule {index} is conflict with rule {other}")


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A checked policy: its rules and trigger as stored, its project and its schedule's
    cron in croniter's spelling (None: no schedule)."""

    project_id: int
    rules: list[dict[str, Any]]
    trigger: dict[str, Any]
    cron: str | None


def parse_policy(body: dict[str, Any]) -> PolicySpec:
    """A RetentionPolicy body; ParameterInvalid naming the field, RuleConflict."""
    algorithm = body.get("algorithm", "or")
    if algorithm != "or":
        raise ParameterInvalid("algorithm", 'must be "or"')
    rules = body.get("rules", [])
    if not isinstance(rules, list):
        raise ParameterInvalid("rules", "must be an array")
    if len(rules) > MAX_RULES:
        raise ParameterInvalid("rules", f"only {MAX_RULES} rules are allowed at most")
    checked = [_rule(f"rules[{i}]", r, i) for i, r in enumerate(rules)]
    _no_conflict(checked)
    trigger, cron = _trigger(body.get("trigger"))
    return PolicySpec(_scope(body.get("scope")), checked, trigger, cron)


def rules_of(stored: list[dict[str, Any]]) -> list[ev.Rule]:
    """The evaluator's rules from stored (checked) rule objects."""
    return [
        ev.Rule(
            template=r["template"],
            n=int(r["params"].get(r["template"], 0)),
            tag_selectors=tuple(_selector(s) for s in r["tag_selectors"]),
            scope_selectors=tuple(_selector(s) for s in r["scope_selectors"].get("repository", [])),
            disabled=bool(r["disabled"]),
        )
        for r in stored
    ]


def _selector(stored: dict[str, Any]) -> ev.Selector:
    return ev.Selector(stored["decoration"], stored["pattern"], _untagged(stored))


def _untagged(stored: dict[str, Any]) -> bool:
    """Harbor's extras {"untagged": bool}; absent: matches takes untagged, excludes not."""
    default = stored["decoration"] != ev.EXCLUDES
    extras = _json(stored.get("extras") or "")
    value = extras.get("untagged") if isinstance(extras, dict) else None
    return value if isinstance(value, bool) else default


def _json(text: str) -> object:
    """text as JSON, or None when it is not (too deep included)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _object(field: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParameterInvalid(field, "must be an object")
    return value


def _rule(field: str, value: object, index: int) -> dict[str, Any]:
    rule = _object(field, value)
    template = rule.get("template")
    if template not in ev.TEMPLATES:
        raise ParameterInvalid(f"{field}.template", f"must be one of {', '.join(ev.TEMPLATES)}")
    if rule.get("action", "retain") != "retain":
        raise ParameterInvalid(f"{field}.action", 'must be "retain"')
    disabled = rule.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ParameterInvalid(f"{field}.disabled", "must be true or false")
    return {
        "id": _int(f"{field}.id", rule.get("id", index + 1), 1 << 31),
        "priority": _int(f"{field}.priority", rule.get("priority", 0), 1 << 31),
        "disabled": disabled,
        "action": "retain",
        "template": template,
        "params": _params(f"{field}.params", template, rule.get("params")),
        "tag_selectors": _selectors(
            f"{field}.tag_selectors", rule.get("tag_selectors"), (ev.MATCHES, ev.EXCLUDES)
        ),
        "scope_selectors": _scope_selectors(
            f"{field}.scope_selectors", rule.get("scope_selectors")
        ),
    }


def _int(field: str, value: object, limit: int) -> int:
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:  # is_integer: False for NaN and infinities
        raise ParameterInvalid(field, "must be an integer")
    assert isinstance(value, int | float)
    if not 0 <= value <= limit:
        raise ParameterInvalid(field, f"must be 0..{limit}")
    return int(value)


def _params(field: str, template: str, value: object) -> dict[str, Any]:
    params = _object(field, value if value is not None else {})
    if template == ev.ALWAYS:
        return {}
    if template not in params:
        raise ParameterInvalid(f"{field}.{template}", "is required")
    return {template: _int(f"{field}.{template}", params[template], _BOUNDS[template])}


def _selectors(field: str, value: object, decorations: tuple[str, ...]) -> list[dict[str, Any]]:
    if value is None:
        value = []
    if not isinstance(value, list) or len(value) > 10:
        raise ParameterInvalid(field, "must be an array of at most 10 selectors")
    return [_one_selector(f"{field}[{i}]", s, decorations) for i, s in enumerate(value)]


def _one_selector(field: str, value: object, decorations: tuple[str, ...]) -> dict[str, Any]:
    selector = _object(field, value)
    if selector.get("kind", "doublestar") != "doublestar":
        raise ParameterInvalid(f"{field}.kind", 'must be "doublestar"')
    decoration = selector.get("decoration")
    if decoration not in decorations:
        raise ParameterInvalid(f"{field}.decoration", f"must be one of {', '.join(decorations)}")
    pattern = selector.get("pattern", "")
    if not isinstance(pattern, str):
        raise ParameterInvalid(f"{field}.pattern", "must be a string")
    check_text(f"{field}.pattern", pattern, MAX_PATTERN)
    try:
        check_pattern(pattern)
    except PatternInvalid as exc:
        raise ParameterInvalid(f"{field}.pattern", exc.reason) from None
    extras = selector.get("extras", "")
    if not isinstance(extras, str):
        raise ParameterInvalid(f"{field}.extras", 'must be a string such as {"untagged":true}')
    check_text(f"{field}.extras", extras, MAX_PATTERN)
    if extras and not isinstance(_json(extras), dict):
        raise ParameterInvalid(f"{field}.extras", 'must be a JSON object such as {"untagged":true}')
    return {"kind": "doublestar", "decoration": decoration, "pattern": pattern, "extras": extras}


def _scope_selectors(field: str, value: object) -> dict[str, list[dict[str, Any]]]:
    scopes = _object(field, value if value is not None else {})
    unknown = sorted(set(scopes) - {"repository"})
    if unknown:
        raise ParameterInvalid(f"{field}.{unknown[0][:64]}", 'is not a scope ("repository")')
    repository = _selectors(
        f"{field}.repository", scopes.get("repository"), (ev.REPO_MATCHES, ev.REPO_EXCLUDES)
    )
    return {"repository": repository}


def _no_conflict(rules: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        key = json.dumps({k: v for k, v in rule.items() if k != "id"}, sort_keys=True)
        if key in seen:
            raise RuleConflict(index, seen[key])
        seen[key] = index


def _trigger(value: object) -> tuple[dict[str, Any], str | None]:
    trigger = _object("trigger", value if value is not None else {"kind": SCHEDULE})
    if trigger.get("kind", SCHEDULE) != SCHEDULE:
        raise ParameterInvalid("trigger.kind", 'must be "Schedule"')
    settings = _object("trigger.settings", trigger.get("settings") or {})
    cron = settings.get("cron") or ""
    if not isinstance(cron, str):
        raise ParameterInvalid("trigger.settings.cron", "must be a string")
    native = harbor_cron(cron, "trigger.settings.cron") if cron.strip() else None
    return {"kind": SCHEDULE, "settings": {"cron": cron}, "references": {}}, native


def _scope(value: object) -> int:
    scope = _object("scope", value)
    if scope.get("level") != "project":
        raise ParameterInvalid("scope.level", 'must be "project"')
    ref = _int("scope.ref", scope.get("ref"), 1 << 31)
    if ref == 0:
        raise ParameterInvalid("scope.ref", "must be a project id")
    return ref
