"""Harbor's /systeminfo, /systeminfo/volumes, /systeminfo/getcert, /ping, /permissions and
/internalconfig, in process on both databases: what the admin, an ordinary user and nobody
each get."""

from __future__ import annotations

import shutil
from pathlib import Path

from access.roles import PROJECT_ACCESS, SYSTEM_ACCESS
from ops.tls import ensure_self_signed
from tests.factories import AppApi, app_as, app_member, app_project, app_user, error_of
from tests.support import InProcessBerth, berth_app
from web.api.schemas.systeminfo import GeneralInfo, Permissions, SystemInfo

PROTECTED = {"registry_url", "external_url", "harbor_version", "read_only", "current_time"}


async def test_anonymous_callers_get_the_public_part_of_the_system_info(
    in_process: InProcessBerth,
) -> None:
    answer = await app_as(in_process, None).get("/systeminfo")
    assert answer.status_code == 200
    info = answer.json()
    assert info["auth_mode"] == "db_auth"
    assert info["self_registration"] is False
    assert not PROTECTED & set(info)
    GeneralInfo.model_validate(info)  # what openapi.json says it is


async def test_a_signed_in_user_gets_the_whole_system_info(in_process: InProcessBerth) -> None:
    _, name = await app_user(in_process)
    info = (await app_as(in_process, name).get("/systeminfo")).json()
    assert info["registry_url"] == "localhost"
    assert info["external_url"] == "http://localhost"
    assert info["has_ca_root"] is False  # plain HTTP: no CA of Berth's own
    assert info["read_only"] is False
    assert info["registry_storage_provider_name"] == "filesystem"
    assert info["harbor_version"].startswith("v")
    assert info["project_creation_restriction"] == "everyone"
    GeneralInfo.model_validate(info)


async def test_the_system_info_follows_the_configuration(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    changed = await admin.put("/configurations", json={"self_registration": True})
    assert changed.status_code == 200, changed.text
    assert (await app_as(in_process, None).get("/systeminfo")).json()["self_registration"]


async def test_volumes_match_the_storage_filesystem(in_process: InProcessBerth) -> None:
    answer = await AppApi(in_process).get("/systeminfo/volumes")
    assert answer.status_code == 200
    (volume,) = SystemInfo.model_validate(answer.json()).model_dump()["storage"]
    usage = shutil.disk_usage(in_process.data_dir)
    assert volume["total"] == usage.total
    assert abs(volume["free"] - usage.free) < 64 * 1024 * 1024  # other tests write meanwhile


async def test_volumes_are_for_the_admin_only(in_process: InProcessBerth) -> None:
    _, name = await app_user(in_process)
    assert (await app_as(in_process, name).get("/systeminfo/volumes")).status_code == 403
    assert (await app_as(in_process, None).get("/systeminfo/volumes")).status_code == 401


async def test_no_certificate_without_tls_of_berths_own(in_process: InProcessBerth) -> None:
    answer = await app_as(in_process, None).get("/systeminfo/getcert")
    assert answer.status_code == 404
    assert error_of(answer) == "NOT_FOUND"


async def test_the_self_signed_ca_is_downloadable(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path / "tls", "127.0.0.1")
    assert made.ca is not None
    async with berth_app(tmp_path, tls="self-signed") as berth:
        answer = await app_as(berth, None).get("/systeminfo/getcert")
        assert answer.status_code == 200
        assert answer.content == made.ca.read_bytes()
        assert answer.headers["Content-Disposition"] == "attachment; filename=ca.crt"
        assert b"BEGIN CERTIFICATE" in answer.content


async def test_ping_answers_pong_to_anybody(in_process: InProcessBerth) -> None:
    answer = await app_as(in_process, None).get("/ping")
    assert answer.status_code == 200
    assert answer.text == "Pong"


async def test_the_admin_sees_system_and_project_permissions(in_process: InProcessBerth) -> None:
    body = (await AppApi(in_process).get("/permissions")).json()
    Permissions.model_validate(body)
    system = {(p["resource"], p["action"]) for p in body["system"]}
    project = {(p["resource"], p["action"]) for p in body["project"]}
    assert ("jobservice-monitor", "stop") in system
    assert len(system) == sum(len(a) for a in SYSTEM_ACCESS.values())
    assert ("repository", "push") in project
    assert len(project) == sum(len(a) for a in PROJECT_ACCESS.values())


async def test_a_project_admin_sees_the_project_permissions_only(
    in_process: InProcessBerth,
) -> None:
    _, project = await app_project(in_process)
    _, owner = await app_user(in_process)
    await app_member(in_process, project, owner, 1)
    body = (await app_as(in_process, owner).get("/permissions")).json()
    assert "system" not in body
    assert {"resource": "repository", "action": "pull"} in body["project"]


async def test_others_may_not_read_the_permissions(in_process: InProcessBerth) -> None:
    _, project = await app_project(in_process)
    _, developer = await app_user(in_process)
    await app_member(in_process, project, developer, 2)
    assert (await app_as(in_process, developer).get("/permissions")).status_code == 403
    assert (await app_as(in_process, None).get("/permissions")).status_code == 401


async def test_internal_config_is_the_configuration_for_admins(in_process: InProcessBerth) -> None:
    body = (await AppApi(in_process).get("/internalconfig")).json()
    assert body["auth_mode"] == {"value": "db_auth", "editable": True}
    assert "ldap_search_password" not in body
    _, name = await app_user(in_process)
    assert (await app_as(in_process, name).get("/internalconfig")).status_code == 403
    assert (await app_as(in_process, None).get("/internalconfig")).status_code == 401
