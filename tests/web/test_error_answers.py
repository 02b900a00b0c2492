"""Deliberate answers to what no handler expects: unknown paths and wrong methods (404 / 405 in
the surface's envelope, never an error-level log line), NUL and over-long input (a 400 naming
the parameter, the failed change still audited), and empty answers without a Content-Type."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx
import pytest

from tests.factories import push_image
from tests.support import ADMIN, RunningBerth


def raw(
    server: RunningBerth, method: str, target: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A request whose target is sent as written (httpx would re-encode %00 and resolve ..)."""
    with httpx.Client(base_url=server.url, auth=ADMIN) as client:
        request = client.build_request(
            method, "/", headers=headers, extensions={"target": target.encode()}
        )
        return client.send(request)


def error_of(response: httpx.Response) -> dict[str, object]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and set(errors[0]) == {"code", "message", "detail"}
    return dict(errors[0])


def unhandled_lines(server: RunningBerth) -> int:
    """How many error-level "unhandled error" lines the server has logged so far."""
    text = server.log.read_text(errors="replace")
    return sum('"level": "error"' in line and "unhandled" in line for line in text.splitlines())


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        pytest.param("GET", "/api/v2.0/nonexistent", "NOT_FOUND", id="api"),
        # an id past what a database INTEGER holds names nothing (it overflowed the driver)
        pytest.param("GET", "/api/v2.0/users/99999999999999999999", "NOT_FOUND", id="huge-id"),
        pytest.param("GET", "/api/v2.0/robots/2147483648", "NOT_FOUND", id="id-past-int4"),
        pytest.param("GET", "/api/v2.0/system/gc/0", "NOT_FOUND", id="id-0"),
        pytest.param("GET", "/nonexistent", "NOT_FOUND", id="root"),
        pytest.param("GET", "/ui/nonexistent", "NOT_FOUND", id="ui"),
        pytest.param("POST", "/c/nonexistent", "NOT_FOUND", id="c"),
    ],
)
def test_an_unknown_path_is_404_in_harbors_envelope(
    berth_server: RunningBerth, method: str, path: str, code: str
) -> None:
    before = unhandled_lines(berth_server)
    response = raw(berth_server, method, path)
    assert response.status_code == 404
    assert error_of(response)["code"] == code
    assert unhandled_lines(berth_server) == before


@pytest.mark.parametrize(
    ("method", "path", "code", "allowed"),
    [
        pytest.param("PATCH", "/v2/", "UNSUPPORTED", {"GET", "HEAD"}, id="v2-base"),
        pytest.param("DELETE", "/api/v2.0/health", "METHOD_NOT_ALLOWED", {"GET"}, id="health"),
        pytest.param(
            "PATCH", "/v2/library/app/tags/list", "UNSUPPORTED", {"GET"}, id="v2-subroute"
        ),
        pytest.param("PUT", "/service/token", "METHOD_NOT_ALLOWED", {"GET"}, id="token"),
    ],
)
def test_a_wrong_method_is_405_with_allow_in_the_surfaces_envelope(
    berth_server: RunningBerth, method: str, path: str, code: str, allowed: set[str]
) -> None:
    before = unhandled_lines(berth_server)
    response = raw(berth_server, method, path)
    assert response.status_code == 405
    assert error_of(response)["code"] == code
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]
    assert unhandled_lines(berth_server) == before


LONG = "a" * 300


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        pytest.param(f"/v2/library/errs/tags/list?last={LONG}", None, id="tags-last-300"),
        pytest.param(f"/v2/_catalog?last={LONG}", None, id="catalog-last-300"),
        pytest.param("/v2/library/errs/manifests/v1%00x", "path", id="manifest-tag-nul"),
        pytest.param("/api/v2.0/projects/lib%00rary", "path", id="project-nul"),
        pytest.param("/api/v2.0/users?q=username=~a%00b", "q", id="users-q-nul"),
        pytest.param("/api/v2.0/users/search?username=a%00b", "username", id="user-search-nul"),
        pytest.param("/api/v2.0/projects?name=a%00b", "name", id="projects-name-nul"),
        pytest.param("/api/v2.0/projects?owner=" + "a" * 1000, "owner", id="projects-owner-1000"),
        pytest.param("/api/v2.0/projects/%ff", "path", id="project-bad-utf8"),
    ],
)
def test_nul_bad_utf8_and_overlong_input_is_a_400_naming_the_parameter(
    berth_server: RunningBerth, path: str, parameter: str | None
) -> None:
    push_image(berth_server, "library/errs", "v1")
    before = unhandled_lines(berth_server)
    response = raw(berth_server, "GET", path)
    assert response.status_code == 400, response.text
    error = error_of(response)
    if parameter is not None:
        assert isinstance(error["detail"], dict) and error["detail"]["parameter"] == parameter
        assert str(error["message"]).startswith(parameter)
    assert unhandled_lines(berth_server) == before


def test_a_refused_change_with_a_nul_keeps_its_failed_audit_event(
    berth_server: RunningBerth,
) -> None:
    # Given a caller who sends a NUL in the project of a delete
    agent = f"nul-test/{uuid.uuid4().hex}"
    target = "/api/v2.0/projects/lib%00rary"
    response = raw(berth_server, "DELETE", target, headers={"User-Agent": agent})

    # Then it is refused, and the attempt is in the audit log, as a failure, by the admin
    assert response.status_code == 400
    events = httpx.get(
        f"{berth_server.url}/api/v2.0/auditlog-exts",
        params={"q": "operation_result=false", "page_size": "100"},
        auth=ADMIN,
    ).json()
    mine = [e for e in events if e["user_agent"] == agent]
    assert len(mine) == 1
    assert (mine[0]["operation"], mine[0]["resource_type"], mine[0]["username"]) == (
        "delete",
        "project",
        "admin",
    )
    assert "NUL" in mine[0]["operation_description"]


def test_a_nul_in_a_body_is_a_400_and_the_attempt_is_audited(berth_server: RunningBerth) -> None:
    # Given a caller who names a project with a NUL in the body
    agent = f"nul-body/{uuid.uuid4().hex}"
    response = httpx.post(
        f"{berth_server.url}/api/v2.0/projects",
        json={"project_name": "a\x00b"},
        headers={"User-Agent": agent},
        auth=ADMIN,
    )

    # Then it is refused naming the field, and the failed attempt is recorded
    assert response.status_code == 400
    assert error_of(response)["detail"] == {
        "parameter": "body.project_name",
        "reason": "contains a NUL character",
    }
    events = httpx.get(
        f"{berth_server.url}/api/v2.0/auditlog-exts",
        params={"q": "operation_result=false", "page_size": "100"},
        auth=ADMIN,
    ).json()
    assert [e["operation"] for e in events if e["user_agent"] == agent] == ["create"]


def test_empty_answers_carry_no_html_content_type(berth_server: RunningBerth) -> None:
    repo = f"library/empty-{uuid.uuid4().hex[:8]}"
    data = b"empty-answers"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=berth_server.url, auth=ADMIN) as client:
        started = client.post(f"/v2/{repo}/blobs/uploads/")  # 202
        patched = client.patch(started.headers["Location"], content=data)  # 202
        cancel = client.post(f"/v2/{repo}/blobs/uploads/")
        cancelled = client.delete(cancel.headers["Location"])  # 204
        location = patched.headers["Location"]
        joiner = "&" if "?" in location else "?"
        finished = client.put(f"{location}{joiner}digest={digest}")  # 201
        project = client.post(
            "/api/v2.0/projects", json={"project_name": f"empty-{uuid.uuid4().hex[:8]}"}
        )  # 201, no body
    answers = {"202": started, "202 patch": patched, "204": cancelled, "201": finished,
               "201 api": project}  # fmt: skip
    for label, response in answers.items():
        assert response.status_code == int(label[:3]), (label, response.text)
        assert response.content == b""
        assert "text/html" not in response.headers.get("Content-Type", ""), label


def test_an_error_body_is_the_one_envelope_everywhere(berth_server: RunningBerth) -> None:
    # /api and /v2 answer the same shape: {"errors": [{"code", "message", "detail"}]}
    for path in ("/api/v2.0/projects/nosuchproject", f"/v2/library/{uuid.uuid4().hex}/tags/list"):
        body = json.loads(raw(berth_server, "GET", path).text)
        assert set(body) == {"errors"} and set(body["errors"][0]) == {"code", "message", "detail"}
