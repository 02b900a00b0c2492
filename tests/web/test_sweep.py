"""The sweep: every route of the app x every method, with hostile values in each path part and
each query parameter, on SQLite and on PostgreSQL, as the admin and as nobody.

Whatever a caller sends: never a 5xx; an error is JSON in its surface's envelope (the OCI
spec's codes on /v2, Harbor's elsewhere); and a refused change on /api has its failed audit
event. The routes come from the app's own URL map (and the /v2 table), so a new route is
swept without anyone adding it here.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from ops.settings import load_settings
from tests.factories import push_image
from tests.support import (
    ADMIN,
    RunningBerth,
    postgres_database,
    require,
    running_berth,
)
from web.app import create_app
from web.v2 import routes as v2_routes

VALUES = {"nul": "%00", "bad-utf8": "%ff", "long": "a" * 1000, "dots": ".."}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
REPOSITORY = "library/sweep"
DIGEST = "sha256:" + hashlib.sha256(b"sweep").hexdigest()
# What a path argument is when it is not the one being swept: things that exist, so that
# handlers get as far as they can.
DEFAULTS = {
    "project_name": "library",
    "ref": "library",
    "repository_name": "sweep",
    "reference": "v1",
    "tag_name": "v1",
    "filename": "app.js",
}
V2_TEMPLATES = {
    "uploads": "/v2/{name}/blobs/uploads/",
    "upload": "/v2/{name}/blobs/uploads/{arg}",
    "blob": "/v2/{name}/blobs/{arg}",
    "manifest": "/v2/{name}/manifests/{arg}",
    "tags": "/v2/{name}/tags/list",
    "referrers": "/v2/{name}/referrers/{arg}",
    "catalog": "/v2/_catalog",
}
V2_ARGS = {"upload": str(uuid.UUID(int=0)), "blob": DIGEST, "manifest": "v1", "referrers": DIGEST}
OCI_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
    "UNAVAILABLE",
}  # fmt: skip
HARBOR_CODES = {
    "BAD_REQUEST", "NOT_FOUND", "CONFLICT", "DENIED", "UNAUTHORIZED", "TOO_MANY_REQUEST",
    "UNAVAILABLE", "UNSUPPORTED", "PRECONDITION", "REQUEST_ENTITY_TOO_LARGE",
    "METHOD_NOT_ALLOWED",
}  # fmt: skip
PAGES = re.compile(r"^/(ui/.*|metrics)?$")  # HTML and Prometheus text, when they answer 200
_PARAM_READS = re.compile(r'(?:args\.get|args\.getlist|_arg|\barg)\(\s*"(\w+)"')
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True, slots=True)
class Case:
    method: str
    path: str  # raw: percent-encoded as sent
    query: str  # raw query string, "" for none
    swept: str  # what is hostile: "path:<arg>=<value>" or "query:<param>=<value>"

    @property
    def target(self) -> bytes:
        return (self.path + (f"?{self.query}" if self.query else "")).encode()


def _app_map() -> tuple[Map, dict[str, set[str]]]:
    """The app's URL map, and for each endpoint the query parameters its module reads."""
    app = create_app(load_settings(data_dir=Path("/nonexistent-sweep")))
    params: dict[str, set[str]] = {}
    for endpoint, view in app.view_functions.items():
        params[endpoint] = _params_of(sys.modules[view.__module__])
    return app.url_map, params


def _params_of(module: object) -> set[str]:
    source = inspect.getsource(module)  # type: ignore[arg-type]
    found = set(_PARAM_READS.findall(source))
    if "paging()" in source:
        found |= {"page", "page_size"}
    if "parse_query(" in source:
        found.add("q")
    if "parse_sort(" in source:
        found.add("sort")
    return found


def _variants(template: str, defaults: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(path, swept) for the template with defaults, then with each argument hostile."""
    names = _ARGUMENT.findall(template)
    fill = {n: defaults.get(n, "1") for n in names}  # ints (ids) are 1
    yield _fill(template, fill), ""
    for name in names:
        for label, value in VALUES.items():
            yield _fill(template, {**fill, name: value}), f"path:{name}={label}"


def _fill(template: str, values: dict[str, str]) -> str:
    return _ARGUMENT.sub(lambda m: values[m.group(1)], template)


def _cases() -> list[Case]:
    url_map, params = _app_map()
    assert set(V2_TEMPLATES) == {route for route, _ in v2_routes.HANDLERS}, "a new /v2 route"
    v2_params = set().union(*(_params_of(m) for m in (v2_routes.blobs, v2_routes.manifests)))
    v2_params |= _params_of(v2_routes.uploads)
    cases: list[Case] = []
    for rule in url_map.iter_rules():
        if rule.endpoint == "v2.dispatch":
            continue  # swept below, route by route
        methods = sorted((rule.methods or set()) - {"OPTIONS"} | {"PATCH"})  # and one it lacks
        cases += _route_cases(rule.rule, methods, params.get(rule.endpoint, set()), DEFAULTS)
    for route, template in V2_TEMPLATES.items():
        args = {"name": REPOSITORY, "arg": V2_ARGS.get(route, "")}
        angled = template.replace("{name}", "<name>").replace("{arg}", "<arg>")
        cases += _route_cases(angled, v2_routes.METHODS, v2_params, args)
    return cases


def _route_cases(
    template: str, methods: list[str], params: set[str], defaults: dict[str, str]
) -> list[Case]:
    cases = []
    for method in methods:
        for path, swept in _variants(template, defaults):
            cases.append(Case(method, path, "", swept or "nothing"))
            if swept:
                continue
            for param in sorted(params):
                for label, value in VALUES.items():
                    query = f"{quote(param)}={value}"
                    cases.append(Case(method, path, query, f"query:{param}={label}"))
    return cases


CASES = _cases()
URL_MAP = _app_map()[0]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sweep_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """A server of its own: the sweep's changes (a deleted tag, say) must not reach others."""
    data_dir = Path(tmp_path_factory.mktemp(f"sweep-{request.param}"))
    if request.param == "sqlite":
        with running_berth(data_dir) as server:
            push_image(server, REPOSITORY, "v1")
            yield server
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        with running_berth(data_dir, {"BERTH_DATABASE_URL": str(url)}) as server:
            push_image(server, REPOSITORY, "v1")
            yield server


@dataclass(frozen=True, slots=True)
class Answer:
    case: Case
    agent: str
    status: int
    content_type: str
    body: bytes


def _send(client: httpx.Client, case: Case) -> Answer:
    agent = f"berth-sweep/{uuid.uuid4().hex}"
    # The target is sent as written: httpx would resolve ".." and re-encode the rest.
    request = client.build_request(
        case.method, "/", headers={"User-Agent": agent}, extensions={"target": case.target}
    )
    response = client.send(request)
    return Answer(
        case, agent, response.status_code, response.headers.get("Content-Type", ""),
        response.content,
    )  # fmt: skip


def _envelope_problem(answer: Answer) -> str | None:
    case, status = answer.case, answer.status
    if status >= 500:
        return f"answered {status}"
    if status < 400:
        return _success_problem(answer)
    if not answer.content_type.startswith("application/json"):
        return f"answered {status} with {answer.content_type!r}"
    if case.method == "HEAD":
        return None
    try:
        errors = httpx.Response(200, content=answer.body).json()["errors"]
    except (ValueError, KeyError, TypeError):
        return f"answered {status} without the envelope: {answer.body[:200]!r}"
    codes = OCI_CODES if case.path.startswith("/v2/") else HARBOR_CODES
    for error in errors:
        if set(error) != {"code", "message", "detail"} or error["code"] not in codes:
            return f"answered {status} with an error outside the surface: {error}"
    return None


def _success_problem(answer: Answer) -> str | None:
    """A success is JSON (or empty), but for the pages, /metrics, the CSV export and the plain
    text Harbor answers with (job and task logs, /ping's Pong)."""
    if PAGES.match(answer.case.path) or answer.content_type.startswith(("text/csv", "text/plain")):
        return None
    if "text/html" in answer.content_type:
        return f"answered {answer.status} with {answer.content_type}"
    if not answer.body or answer.case.method == "HEAD":
        return None
    try:
        httpx.Response(200, content=answer.body).json()
    except ValueError:
        return f"answered {answer.status} with a body that is not JSON: {answer.body[:100]!r}"
    return None


def _is_refused_change(answer: Answer) -> bool:
    """An /api route that takes this method, which said no: its failed event must exist."""
    case = answer.case
    if case.method not in UNSAFE or not case.path.startswith("/api/") or answer.status < 400:
        return False
    try:
        endpoint, _ = URL_MAP.bind("sweep").match(unquote(case.path), case.method)
    except HTTPException:
        return False  # no such route for this method: nothing was attempted
    return endpoint != "api.ping_ldap"  # a question to the directory, not a change


def _failed_agents(server: RunningBerth, since: str) -> set[str]:
    """The user agents of every failed event since the sweep started."""
    agents: set[str] = set()
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
        for page in range(1, 101):
            params = {
                "q": f"operation_result=false,op_time=[{since}~]",
                "page": str(page),
                "page_size": "100",
            }
            items = client.get("/api/v2.0/auditlog-exts", params=params).json()
            agents |= {item["user_agent"] for item in items}
            if len(items) < 100:
                break
    return agents


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_every_route_answers_every_value_in_its_envelope(
    sweep_server: RunningBerth, who: str
) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    auth = ADMIN if who == "admin" else None
    limits = httpx.Limits(max_connections=16)
    with (
        httpx.Client(base_url=sweep_server.url, auth=auth, timeout=30, limits=limits) as client,
        ThreadPoolExecutor(16) as pool,
    ):
        answers = list(pool.map(lambda case: _send(client, case), CASES))

    problems = [
        f"{a.case.method} {a.case.target[:120]!r} ({a.case.swept}): {problem}"
        for a in answers
        if (problem := _envelope_problem(a))
    ]
    assert not problems, f"{len(problems)} of {len(answers)}:\n" + "\n".join(problems[:30])

    expected = {a.agent: a for a in answers if _is_refused_change(a)}
    assert expected, "the sweep refused no change at all: it sweeps nothing"
    missing = set(expected) - _failed_agents(sweep_server, since)
    lost = [f"{expected[m].case.method} {expected[m].case.target[:120]!r}" for m in missing]
    assert not lost, f"{len(lost)} refused changes have no failed event:\n" + "\n".join(lost[:30])
    assert '"unhandled error"' not in sweep_server.log.read_text(errors="replace")
