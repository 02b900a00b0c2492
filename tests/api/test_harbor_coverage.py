"""Harbor's API v2.0 operations (tests/api/data/harbor_ops.tsv, from Harbor's swagger) against
Berth's URL map: Berth routes every one of them except those of vulnerability scanning, P2P
preheat and OIDC, which it does not offer."""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import InProcessBerth, berth_app

API = "/api/v2.0"
OPERATIONS = Path(__file__).parent / "data" / "harbor_ops.tsv"
# What Berth does not offer, by Harbor's tag, and the single operations outside those tags.
EXCLUDED_TAGS = frozenset(
    {"scanner", "scan", "scanAll", "scan data export", "securityhub", "SystemCVEAllowlist",
     "preheat", "oidc"}
)  # fmt: skip
EXCLUDED_OPERATIONS = frozenset(
    {
        ("GET", "/projects/{}/repositories/{}/artifacts/{}/additions/vulnerabilities"),
        ("GET", "/projects/{}/scanner"),
        ("PUT", "/projects/{}/scanner"),
        ("GET", "/projects/{}/scanner/candidates"),
        ("PUT", "/users/{}/cli_secret"),
    }
)


def harbor_operations() -> list[dict[str, str]]:
    with OPERATIONS.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def shape(path: str) -> str:
    """A path with every parameter as {} (Harbor's {name} and werkzeug's <conv:name> alike)."""
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


def excluded(op: dict[str, str]) -> bool:
    return op["tag"] in EXCLUDED_TAGS or (op["method"], shape(op["path"])) in EXCLUDED_OPERATIONS


@pytest.fixture
async def berth(tmp_path: Path) -> AsyncIterator[InProcessBerth]:
    async with berth_app(tmp_path) as app:
        yield app


def routed(berth: InProcessBerth) -> set[tuple[str, str]]:
    found = set()
    for rule in berth.app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            found.update((m, shape(rule.rule[len(API) :])) for m in rule.methods or ())
    return found


def test_the_operation_list_is_harbors_whole_list() -> None:
    ops = harbor_operations()
    assert len(ops) == 203
    assert len({(o["method"], o["path"]) for o in ops}) == len(ops)


def test_the_exclusions_are_exactly_scanning_preheat_and_oidc() -> None:
    """The excluded list cannot grow silently: these tags, these single operations, and each
    single one exists in Harbor's list (so a typo cannot exclude nothing)."""
    ops = harbor_operations()
    assert {
        "scanner", "scan", "scanAll", "scan data export", "securityhub",
        "SystemCVEAllowlist", "preheat", "oidc",
    } == EXCLUDED_TAGS  # fmt: skip
    assert {o["tag"] for o in ops} >= EXCLUDED_TAGS
    singles = {(o["method"], shape(o["path"])) for o in ops}
    assert singles >= EXCLUDED_OPERATIONS
    assert len(EXCLUDED_OPERATIONS) == 5
    assert sum(excluded(o) for o in ops) == 50  # 45 by tag, 5 single operations


async def test_berth_routes_every_other_harbor_operation(berth: InProcessBerth) -> None:
    have = routed(berth)
    missing = sorted(
        f"{o['method']} {o['path']} ({o['operationId']}, {o['tag']})"
        for o in harbor_operations()
        if not excluded(o) and (o["method"], shape(o["path"])) not in have
    )
    assert not missing, f"{len(missing)} Harbor operations Berth does not route:\n" + "\n".join(
        missing
    )


async def test_the_document_uses_harbors_operation_ids(berth: InProcessBerth) -> None:
    """Where Berth routes a Harbor operation, its OpenAPI operation has Harbor's id and tag."""
    answer = await berth.client.get(f"{API}/openapi.json")
    doc = await answer.get_json()
    ours = {
        (m.upper(), shape(p)): (op["operationId"], op["tags"][0])
        for p, item in doc["paths"].items()
        for m, op in item.items()
    }
    wrong = [
        f"{o['method']} {o['path']}: {ours[key]} != {(o['operationId'], o['tag'])}"
        for o in harbor_operations()
        if (key := (o["method"], shape(o["path"]))) in ours
        and ours[key] != (o["operationId"], o["tag"])
    ]
    assert not wrong, "\n".join(wrong)
