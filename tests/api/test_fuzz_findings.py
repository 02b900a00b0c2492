"""What the OpenAPI fuzzer (test_openapi_fuzz.py) found, each kept as a plain regression test."""

from __future__ import annotations

import pytest

from tests.factories import AppApi, app_project
from tests.support import InProcessBerth

# "¹" and "²" are digits to str.isdigit() but not to int(): such a path once gave a 500.
SUPERSCRIPT = "%C2%B9"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("DELETE", f"/projects/{SUPERSCRIPT}", id="delete-project"),
        pytest.param("GET", f"/projects/{SUPERSCRIPT}", id="get-project"),
        pytest.param("GET", f"/projects/{SUPERSCRIPT}/members", id="members"),
    ],
)
async def test_a_superscript_digit_names_no_project(
    in_process: InProcessBerth, method: str, path: str
) -> None:
    answer = await AppApi(in_process).request(method, path)
    assert answer.status_code == 404, answer.text


async def test_a_superscript_digit_names_no_signing_key(in_process: InProcessBerth) -> None:
    _, project = await app_project(in_process)
    answer = await AppApi(in_process).get(f"/projects/{project}/keys/{SUPERSCRIPT}")
    assert answer.status_code == 404, answer.text


async def test_a_superscript_page_size_on_the_catalog_is_400(in_process: InProcessBerth) -> None:
    answer = await AppApi(in_process).get(f"/v2/_catalog?n={SUPERSCRIPT}")
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("path", ["/ldap/ping", "/projects", "/users"])
async def test_a_body_that_is_not_utf8_is_400(in_process: InProcessBerth, path: str) -> None:
    headers = {"Content-Type": "application/json"}
    answer = await AppApi(in_process).post(path, data=b"\xa3q", headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["message"] == "body is not valid JSON"


async def test_an_empty_ldap_ping_body_still_pings_the_stored_settings(
    in_process: InProcessBerth,
) -> None:
    answer = await AppApi(in_process).post("/ldap/ping")
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is False  # no directory is configured here
