"""GET/PUT /api/v2.0/configurations: admins only, secrets hidden, the auth-mode switch rule."""

from __future__ import annotations

import httpx
import pytest

from tests.ldap.directory import PASSWORDS, Slapd, configure, ldap_config, token_status
from tests.support import ADMIN, RunningBerth


def settings_of(server: RunningBerth) -> dict[str, dict[str, object]]:
    response = httpx.get(f"{server.url}/api/v2.0/configurations", auth=ADMIN)
    response.raise_for_status()
    result: dict[str, dict[str, object]] = response.json()
    return result


def test_switch_is_allowed_both_ways_on_a_fresh_database(fresh_berth: RunningBerth) -> None:
    # Given a database with only admin and library
    # When the admin switches to LDAP and back
    to_ldap = configure(fresh_berth, {"auth_mode": "ldap_auth"})
    mode_after = settings_of(fresh_berth)["auth_mode"]
    to_db = configure(fresh_berth, {"auth_mode": "db_auth"})
    # Then both switches hold
    assert (to_ldap.status_code, to_db.status_code) == (200, 200)
    assert mode_after == {"value": "ldap_auth", "editable": True}
    assert settings_of(fresh_berth)["auth_mode"]["value"] == "db_auth"


def test_switch_is_refused_once_a_directory_user_exists(
    fresh_berth: RunningBerth, slapd: Slapd
) -> None:
    # Given LDAP mode and one directory user who has logged in
    configure(fresh_berth, ldap_config(slapd.url)).raise_for_status()
    assert token_status(fresh_berth, "alice", PASSWORDS["alice"]) == 200
    # When the admin switches back to database users
    response = configure(fresh_berth, {"auth_mode": "db_auth"})
    # Then it is refused with the reason, and the mode is shown as not editable
    assert response.status_code == 400
    assert "users other than admin" in response.json()["errors"][0]["message"]
    assert settings_of(fresh_berth)["auth_mode"] == {"value": "ldap_auth", "editable": False}


def test_switch_is_refused_once_a_project_exists(fresh_berth: RunningBerth) -> None:
    # Given a project besides library
    httpx.post(
        f"{fresh_berth.url}/api/v2.0/projects", json={"project_name": "team"}, auth=ADMIN
    ).raise_for_status()
    # When the admin switches to LDAP; Then it is refused
    response = configure(fresh_berth, {"auth_mode": "ldap_auth"})
    assert response.status_code == 400
    assert "projects other than library" in response.json()["errors"][0]["message"]
    # And other settings may still change
    assert configure(fresh_berth, {"ldap_timeout": 7}).status_code == 200


def test_secret_is_written_but_never_read_back(fresh_berth: RunningBerth) -> None:
    configure(fresh_berth, {"ldap_search_password": "s3cret-value"}).raise_for_status()
    response = httpx.get(f"{fresh_berth.url}/api/v2.0/configurations", auth=ADMIN)
    assert "ldap_search_password" not in response.json()
    assert "s3cret-value" not in response.text
    assert "s3cret-value" not in fresh_berth.log.read_text()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"auth_mode": "oidc_auth"}, "auth_mode must be one of", id="unknown-mode"),
        pytest.param({"ldap_scope": 7}, "ldap_scope must be 0", id="scope-out-of-range"),
        pytest.param({"ldap_timeout": "5"}, "ldap_timeout must be an integer", id="wrong-type"),
        pytest.param({"ldap_verify_cert": 1}, "must be a boolean", id="int-for-bool"),
        pytest.param({"ldap_url": "http://x"}, "ldap_url must start", id="not-ldap-url"),
        pytest.param({"colour": "blue"}, "unknown configuration key: colour", id="unknown-key"),
        pytest.param(["auth_mode"], "must be a JSON object", id="not-an-object"),
    ],
)
def test_bad_settings_are_refused(ldap_berth: RunningBerth, body: object, reason: str) -> None:
    response = httpx.put(f"{ldap_berth.url}/api/v2.0/configurations", json=body, auth=ADMIN)
    assert response.status_code == 400
    assert reason in response.json()["errors"][0]["message"]


def test_configurations_are_for_system_admins(ldap_berth: RunningBerth) -> None:
    url = f"{ldap_berth.url}/api/v2.0/configurations"
    anonymous = httpx.put(url, json={"ldap_timeout": 9})
    dave = httpx.put(url, json={"ldap_timeout": 9}, auth=("dave", PASSWORDS["dave"]))
    assert (anonymous.status_code, dave.status_code) == (401, 403)
    assert settings_of(ldap_berth)["ldap_timeout"]["value"] == 5
