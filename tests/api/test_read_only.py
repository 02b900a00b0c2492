"""Read-only mode (the `read_only` configuration): every change through /v2 and /api/v2.0 is
refused with 503 in that surface's format, pulls and reads go on, and the configuration
change that ends it is allowed."""

from __future__ import annotations

import os

import pytest

from tests.factories import (
    OCI_MANIFEST,
    Answer,
    AppApi,
    app_image,
    app_project,
    config_blob,
    error_of,
    image_manifest,
    message,
    project_body,
    sha256,
    unique,
)
from tests.support import InProcessBerth

READ_ONLY = "The system is in read only mode. Any modification is prohibited."


async def set_read_only(berth: InProcessBerth, on: bool) -> None:
    answer = await AppApi(berth).put("/configurations", json={"read_only": on})
    assert answer.status_code == 200, answer.text


def refused(answer: Answer) -> bool:
    return (
        answer.status_code == 503 and error_of(answer) == "DENIED" and message(answer) == READ_ONLY
    )


async def test_the_setting_is_a_boolean_shown_with_the_others(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    shown = (await admin.get("/configurations")).json()
    assert shown["read_only"] == {"value": False, "editable": True}
    bad = await admin.put("/configurations", json={"read_only": "yes"})
    assert bad.status_code == 400 and "read_only" in message(bad)
    await set_read_only(in_process, True)
    assert (await admin.get("/configurations")).json()["read_only"]["value"] is True


async def test_pushes_and_deletes_are_refused_and_pulls_served(in_process: InProcessBerth) -> None:
    # Given an image pushed, then read-only mode on
    _, project = await app_project(in_process)
    repo = f"{project}/app"
    digest = await app_image(in_process, repo, "v1")
    config = config_blob("v1")
    await set_read_only(in_process, True)
    registry = AppApi(in_process)
    # When clients pull, push and delete
    data = os.urandom(100)
    changes = {
        "upload": await registry.post(
            f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", data=data
        ),
        "start": await registry.post(f"/v2/{repo}/blobs/uploads/"),
        "manifest": await registry.put(
            f"/v2/{repo}/manifests/v2",
            data=image_manifest(config),
            headers={"Content-Type": OCI_MANIFEST},
        ),
        "v2-delete": await registry.delete(f"/v2/{repo}/manifests/{digest}"),
        "blob-delete": await registry.delete(f"/v2/{repo}/blobs/{sha256(config)}"),
        "api-delete": await registry.delete(f"/projects/{project}/repositories/app"),
        "artifact-delete": await registry.delete(
            f"/projects/{project}/repositories/app/artifacts/{digest}"
        ),
        "tag": await registry.post(
            f"/projects/{project}/repositories/app/artifacts/{digest}/tags", json={"name": "x"}
        ),
        "project": await registry.post("/projects", json=project_body(unique("ro-"))),
    }
    pulled = await registry.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    blob = await registry.get(f"/v2/{repo}/blobs/{sha256(config)}")
    listed = await registry.get(f"/projects/{project}/repositories/app/artifacts")
    # Then every change is refused in its surface's envelope, and every read is answered
    assert {
        name: answer.status_code for name, answer in changes.items() if not refused(answer)
    } == {}
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == digest
    assert blob.status_code == 200 and blob.content == config
    assert listed.status_code == 200 and len(listed.json()) == 1


async def test_turning_it_off_lets_pushes_in_again(in_process: InProcessBerth) -> None:
    _, project = await app_project(in_process)
    await set_read_only(in_process, True)
    refused_push = await AppApi(in_process).post(f"/v2/{project}/app/blobs/uploads/")
    await set_read_only(in_process, False)
    digest = await app_image(in_process, f"{project}/app", "v1")
    assert refused(refused_push)
    assert digest.startswith("sha256:")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_an_upload_in_progress_can_go_no_further(
    in_process: InProcessBerth, method: str
) -> None:
    _, project = await app_project(in_process)
    registry = AppApi(in_process)
    location = (await registry.post(f"/v2/{project}/app/blobs/uploads/")).headers["Location"]
    await set_read_only(in_process, True)
    answer = await registry.request(method, f"{location}?digest={sha256(b'x')}", data=b"x")
    assert refused(answer), answer.text
