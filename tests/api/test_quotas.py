"""Project quotas: Harbor's /quotas API, storage_limit at project creation, and the usage
each push, mount, delete and garbage collection moves (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.quotas import format_bytes
from tests.api.gc_support import run_now
from tests.factories import (
    OCI_MANIFEST,
    Answer,
    AppApi,
    app_as,
    app_image,
    app_project,
    app_user,
    config_blob,
    created,
    error_of,
    image_manifest,
    message,
    project_body,
    push_blob,
    registry_client,
    sha256,
    unique,
)
from tests.support import InProcessBerth, RunningBerth, running_berth_with


async def quota_of(berth: InProcessBerth, project_id: int) -> dict[str, Any]:
    """The project's one quota, as GET /quotas?reference_id= lists it."""
    listed = await AppApi(berth).get(
        "/quotas", params={"reference": "project", "reference_id": str(project_id)}
    )
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "1"
    (quota,) = listed.json()
    return dict(quota)


async def project_with_limit(berth: InProcessBerth, limit: int) -> tuple[int, str]:
    name = unique("q-")
    body = {**project_body(name), "storage_limit": limit}
    return await created(await AppApi(berth).post("/projects", json=body)), name


async def upload(berth: InProcessBerth, repo: str, data: bytes) -> Answer:
    """A monolithic blob upload as the admin."""
    return await AppApi(berth).post(f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", data=data)


# --- the API ---------------------------------------------------------------------------------


async def test_a_new_project_has_an_unlimited_quota_in_harbors_shape(
    in_process: InProcessBerth,
) -> None:
    # Given a project made without storage_limit
    project_id, name = await app_project(in_process)
    # When its quota is listed and read
    quota = await quota_of(in_process, project_id)
    got = await AppApi(in_process).get(f"/quotas/{quota['id']}")
    # Then it is unlimited, unused, and names its project and owner
    assert got.status_code == 200 and got.json() == quota
    assert quota["ref"] == {"id": project_id, "name": name, "owner_name": "admin"}
    assert quota["hard"] == {"storage": -1} and quota["used"] == {"storage": 0}
    assert quota["creation_time"].endswith("Z") and quota["update_time"].endswith("Z")


async def test_storage_limit_at_creation_is_the_quota_and_the_setting_is_the_default(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    limited, _ = await project_with_limit(in_process, 10 * 1024 * 1024)
    changed = await admin.put("/configurations", json={"storage_per_project": 5000})
    assert changed.status_code == 200, changed.text
    defaulted, _ = await app_project(in_process)
    zero, _ = await project_with_limit(in_process, 0)  # Harbor: 0 means the default
    assert (await quota_of(in_process, limited))["hard"] == {"storage": 10 * 1024 * 1024}
    assert (await quota_of(in_process, defaulted))["hard"] == {"storage": 5000}
    assert (await quota_of(in_process, zero))["hard"] == {"storage": 5000}


async def test_a_user_gets_the_default_whatever_limit_they_ask(in_process: InProcessBerth) -> None:
    _, user = await app_user(in_process)
    name = unique("q-")
    body = {**project_body(name), "storage_limit": 123}
    project_id = await created(await app_as(in_process, user).post("/projects", json=body))
    assert (await quota_of(in_process, project_id))["hard"] == {"storage": -1}


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(-2, id="below-unlimited"),
        pytest.param(1024**5 + 1, id="past-1024-TiB"),
        pytest.param("10", id="string"),
        pytest.param(1.5, id="fraction"),
        pytest.param(True, id="boolean"),
    ],
)
async def test_a_bad_storage_limit_is_400_naming_it(
    in_process: InProcessBerth, limit: object
) -> None:
    body = {**project_body(unique("q-")), "storage_limit": limit}
    answer = await AppApi(in_process).post("/projects", json=body)
    assert answer.status_code == 400, answer.text
    assert "storage_limit" in message(answer)


async def test_the_admin_changes_a_limit_and_others_may_not(in_process: InProcessBerth) -> None:
    project_id, _ = await app_project(in_process)
    quota_id = (await quota_of(in_process, project_id))["id"]
    _, user = await app_user(in_process)
    url = f"/quotas/{quota_id}"
    body = {"hard": {"storage": 2048}}
    assert (await app_as(in_process, None).put(url, json=body)).status_code == 401
    assert (await app_as(in_process, user).put(url, json=body)).status_code == 403
    assert (await app_as(in_process, user).get(url)).status_code == 403
    assert (await app_as(in_process, None).get("/quotas")).status_code == 401
    changed = await AppApi(in_process).put(url, json=body)
    assert changed.status_code == 200, changed.text
    assert (await quota_of(in_process, project_id))["hard"] == {"storage": 2048}
    back = await AppApi(in_process).put(url, json={"hard": {"storage": -1}})
    assert back.status_code == 200
    assert (await quota_of(in_process, project_id))["hard"] == {"storage": -1}


async def test_a_project_update_leaves_the_limit_to_the_quota_api(
    in_process: InProcessBerth,
) -> None:
    project_id, name = await project_with_limit(in_process, 4096)
    body = {"storage_limit": 1, "metadata": {"public": "true"}}
    updated = await AppApi(in_process).put(f"/projects/{name}", json=body)
    assert updated.status_code == 200, updated.text
    assert (await quota_of(in_process, project_id))["hard"] == {"storage": 4096}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "hard", id="no-hard"),
        pytest.param({"hard": 5}, "hard", id="hard-not-object"),
        pytest.param({"hard": {}}, "hard.storage", id="no-storage"),
        pytest.param({"hard": {"storage": 0}}, "hard.storage", id="zero"),
        pytest.param({"hard": {"storage": "1"}}, "hard.storage", id="string"),
        pytest.param({"hard": {"storage": 1, "cpu": 2}}, "hard.cpu", id="other-resource"),
    ],
)
async def test_a_bad_update_is_400_naming_the_field(
    in_process: InProcessBerth, body: dict[str, Any], field: str
) -> None:
    project_id, _ = await app_project(in_process)
    quota_id = (await quota_of(in_process, project_id))["id"]
    answer = await AppApi(in_process).put(f"/quotas/{quota_id}", json=body)
    assert answer.status_code == 400, answer.text
    assert field in message(answer)


async def test_unknown_quotas_and_references(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    assert (await admin.get("/quotas/999999")).status_code == 404
    put = await admin.put("/quotas/999999", json={"hard": {"storage": 1}})
    assert put.status_code == 404
    for params in ({"reference": "user"}, {"reference_id": "x"}, {"reference_id": "9" * 30}):
        listed = await admin.get("/quotas", params=params)
        assert listed.status_code == 200 and listed.json() == []
    assert (await admin.get("/quotas", params={"sort": "name"})).status_code == 400


async def test_quotas_are_paged_and_sorted_by_usage(in_process: InProcessBerth) -> None:
    await app_project(in_process)  # one that uses nothing
    big, big_name = await app_project(in_process)
    assert (await upload(in_process, f"{big_name}/app", os.urandom(5000))).status_code == 201
    listed = await AppApi(in_process).get(
        "/quotas", params={"sort": "-used.storage", "page_size": 1}
    )
    assert listed.status_code == 200
    assert [q["ref"]["id"] for q in listed.json()] == [big]
    assert int(listed.headers["X-Total-Count"]) >= 3  # library too
    assert 'rel="next"' in listed.headers["Link"]


# --- accounting -----------------------------------------------------------------------------


async def test_a_push_counts_its_blobs_and_manifest_once(in_process: InProcessBerth) -> None:
    # Given a project
    project_id, name = await app_project(in_process)
    # When an image is pushed, and its config again into another repository of the project
    await app_image(in_process, f"{name}/one", "v1")
    config = config_blob("v1")
    again = await upload(in_process, f"{name}/two", config)
    # Then the usage is the config once plus the manifest, and the quota was updated
    assert again.status_code == 201
    manifest = image_manifest(config)
    quota = await quota_of(in_process, project_id)
    assert quota["used"]["storage"] == len(config) + len(manifest)
    assert quota["update_time"] > quota["creation_time"]


async def test_a_mount_counts_in_the_target_project_only(in_process: InProcessBerth) -> None:
    source_id, source = await app_project(in_process)
    target_id, target = await app_project(in_process)
    data = os.urandom(3000)
    assert (await upload(in_process, f"{source}/app", data)).status_code == 201
    mounted = await AppApi(in_process).post(
        f"/v2/{target}/app/blobs/uploads/?mount={sha256(data)}&from={source}/app"
    )
    assert mounted.status_code == 201, mounted.text
    assert (await quota_of(in_process, source_id))["used"]["storage"] == 3000
    assert (await quota_of(in_process, target_id))["used"]["storage"] == 3000


async def test_a_push_over_the_limit_is_refused_with_harbors_message(
    in_process: InProcessBerth,
) -> None:
    # Given a project of 10 000 bytes that uses 6 000
    project_id, name = await project_with_limit(in_process, 10_000)
    assert (await upload(in_process, f"{name}/app", os.urandom(6000))).status_code == 201
    # When a 5 000-byte blob is pushed, monolithic and then chunked
    data = os.urandom(5000)
    whole = await upload(in_process, f"{name}/app", data)
    registry = AppApi(in_process)
    started = await registry.post(f"/v2/{name}/app/blobs/uploads/")
    location = started.headers["Location"]
    patched = await registry.request("PATCH", location, data=data[:2000])
    final = await registry.put(f"{location}?digest={sha256(data)}", data=data[2000:])
    # Then both are refused with Harbor's message; nothing of the blob is in the repository
    expected = (
        "adding 4.9 KiB of storage resource, which when updated to current usage of 5.9 KiB"
        " will exceed the configured upper limit of 9.8 KiB."
    )
    for answer in (whole, final):
        assert answer.status_code == 403, answer.text
        assert error_of(answer) == "DENIED" and message(answer) == expected
    assert patched.status_code == 202  # 8 000 bytes would fit: the whole is checked at the end
    head = await registry.request("HEAD", f"/v2/{name}/app/blobs/{sha256(data)}")
    assert head.status_code == 404
    assert (await registry.get(location)).status_code == 404  # the upload is gone too
    assert (await quota_of(in_process, project_id))["used"]["storage"] == 6000


async def test_a_chunk_declared_past_the_limit_is_refused_before_it_is_stored(
    in_process: InProcessBerth,
) -> None:
    project_id, name = await project_with_limit(in_process, 1000)
    registry = AppApi(in_process)
    location = (await registry.post(f"/v2/{name}/app/blobs/uploads/")).headers["Location"]
    data = os.urandom(2000)
    patched = await registry.request(
        "PATCH", location, data=data, headers={"Content-Length": str(len(data))}
    )
    assert patched.status_code == 403, patched.text
    assert "exceed the configured upper limit of 1000 B" in message(patched)
    assert (await quota_of(in_process, project_id))["used"]["storage"] == 0


async def test_a_manifest_over_the_limit_is_refused(in_process: InProcessBerth) -> None:
    config = config_blob("m")
    manifest = image_manifest(config)
    project_id, name = await project_with_limit(in_process, len(config) + len(manifest) - 1)
    assert (await upload(in_process, f"{name}/app", config)).status_code == 201
    put = await AppApi(in_process).put(
        f"/v2/{name}/app/manifests/v1", data=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 403, put.text
    assert "exceed the configured upper limit" in message(put)
    assert (await AppApi(in_process).get(f"/v2/{name}/app/manifests/v1")).status_code == 404
    assert (await quota_of(in_process, project_id))["used"]["storage"] == len(config)


async def test_deleting_a_repository_gives_its_space_back(in_process: InProcessBerth) -> None:
    # Given two repositories of a project sharing a config blob
    project_id, name = await app_project(in_process)
    await app_image(in_process, f"{name}/one", "v1")
    shared = config_blob("v1")
    assert (await upload(in_process, f"{name}/two", shared)).status_code == 201
    only_two = os.urandom(1234)
    assert (await upload(in_process, f"{name}/two", only_two)).status_code == 201
    before = (await quota_of(in_process, project_id))["used"]["storage"]
    # When the second repository is deleted
    deleted = await AppApi(in_process).delete(f"/projects/{name}/repositories/two")
    # Then only what it alone held is given back
    assert deleted.status_code == 200, deleted.text
    assert (await quota_of(in_process, project_id))["used"]["storage"] == before - 1234


async def test_a_lowered_limit_refuses_pushes_until_space_is_given_back(
    in_process: InProcessBerth,
) -> None:
    project_id, name = await app_project(in_process)
    first = os.urandom(4000)
    assert (await upload(in_process, f"{name}/app", first)).status_code == 201
    quota_id = (await quota_of(in_process, project_id))["id"]
    lowered = await AppApi(in_process).put(f"/quotas/{quota_id}", json={"hard": {"storage": 3000}})
    assert lowered.status_code == 200
    assert (await upload(in_process, f"{name}/app", os.urandom(10))).status_code == 403
    again = await upload(in_process, f"{name}/app", first)  # counted already: no new bytes
    assert again.status_code == 201
    unlinked = await AppApi(in_process).delete(f"/v2/{name}/app/blobs/{sha256(first)}")
    assert unlinked.status_code == 202, unlinked.text
    assert (await quota_of(in_process, project_id))["used"]["storage"] == 0
    assert (await upload(in_process, f"{name}/app", os.urandom(10))).status_code == 201


async def test_a_deleted_project_takes_its_quota_with_it(in_process: InProcessBerth) -> None:
    project_id, name = await app_project(in_process)
    quota_id = (await quota_of(in_process, project_id))["id"]
    assert (await AppApi(in_process).delete(f"/projects/{name}")).status_code == 200
    assert (await AppApi(in_process).get(f"/quotas/{quota_id}")).status_code == 404
    listed = await AppApi(in_process).get("/quotas", params={"reference_id": str(project_id)})
    assert listed.json() == []


def test_harbors_byte_spelling() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1024, 10_500_000, 10 * 1024**2, 1024**5)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "10.0 MiB",
        "10.0 MiB",
        "1.0 PiB",
    ]


# --- on a real server: races and garbage collection ------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def quota_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server whose GC window is zero (a run frees what nothing names at once)."""
    folder = Path(tmp_path_factory.mktemp(f"quota-{request.param}"))
    env = {"BERTH_GC__WINDOW_SECONDS": "0"}
    with running_berth_with(request.param, folder, env) as server:
        yield server


def _used(client: httpx.Client, project_id: int) -> int:
    listed = client.get("/api/v2.0/quotas", params={"reference_id": str(project_id)})
    assert listed.status_code == 200, listed.text
    return int(listed.json()[0]["used"]["storage"])


def _new_limited_project(client: httpx.Client, limit: int) -> tuple[int, str]:
    name = unique("q-")
    made = client.post("/api/v2.0/projects", json={**project_body(name), "storage_limit": limit})
    assert made.status_code == 201, made.text
    return int(made.headers["Location"].rsplit("/", 1)[1]), name


def test_concurrent_pushes_never_pass_the_limit(quota_server: RunningBerth) -> None:
    # Given a project with room for 5 blobs of 10 000 bytes
    size = 10_000
    with registry_client(quota_server) as client:
        project_id, name = _new_limited_project(client, 5 * size + size // 2)
    # When 16 clients push 16 different blobs of that size at once
    blobs = [os.urandom(size) for _ in range(16)]

    def push(data: bytes) -> int:
        with registry_client(quota_server) as client:
            url = f"/v2/{name}/race/blobs/uploads/?digest={sha256(data)}"
            return client.post(url, content=data).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(push, blobs))
    # Then exactly 5 got in, the rest were refused, and the usage is theirs
    assert sorted(statuses) == [201] * 5 + [403] * 11
    with registry_client(quota_server) as client:
        assert _used(client, project_id) == 5 * size
        held = [client.head(f"/v2/{name}/race/blobs/{sha256(b)}").status_code for b in blobs]
    assert sorted(held) == [200] * 5 + [404] * 11


def test_deleting_an_artifact_and_collecting_gives_the_space_back(
    quota_server: RunningBerth,
) -> None:
    # Given an image with a layer in a project
    with registry_client(quota_server) as client:
        project_id, name = _new_limited_project(client, 1024**3)
        layer = push_blob(client, f"{name}/app", os.urandom(20_000))
        config = config_blob("gc")
        push_blob(client, f"{name}/app", config)
        manifest = json.loads(image_manifest(config))
        manifest["layers"] = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]
        body = json.dumps(manifest).encode()
        put = client.put(
            f"/v2/{name}/app/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
        pushed = _used(client, project_id)
        # When the artifact is deleted and a collection runs
        deleted = client.delete(f"/v2/{name}/app/manifests/{sha256(body)}")
        after_delete = _used(client, project_id)
        with httpx.Client(
            base_url=quota_server.url + "/api/v2.0", auth=client.auth, timeout=30
        ) as admin:
            run_now(admin)
        after_gc = _used(client, project_id)
    # Then the delete gave the manifest back at once, the collection the blobs
    assert pushed == 20_000 + len(config) + len(body)
    assert deleted.status_code == 202
    assert after_delete == 20_000 + len(config)
    assert after_gc == 0


async def test_a_database_made_before_quotas_counts_every_project_at_start(
    in_process: InProcessBerth,
) -> None:
    # Given projects holding images, on a database with no quota rows yet (an older Berth)
    from core import quotas
    from models import ProjectBlob, Quota

    first_id, first = await app_project(in_process)
    second_id, second = await app_project(in_process)
    await app_image(in_process, f"{first}/app", "v1")
    await app_image(in_process, f"{second}/app", "v1")  # the same bytes, another project
    await app_image(in_process, f"{second}/other", "v1")  # and again in the same project
    before = [(await quota_of(in_process, p))["used"] for p in (first_id, second_id)]
    await ProjectBlob.all().delete()
    await Quota.all().delete()
    # When the registry starts
    await quotas.prepare()
    await quotas.prepare()  # the second start finds the quotas there
    # Then every project has its quota, unlimited, with the usage it had
    after = [await quota_of(in_process, p) for p in (first_id, second_id)]
    assert [q["used"] for q in after] == before
    assert before[0] == before[1] and before[0]["storage"] > 0
    assert [q["hard"] for q in after] == [{"storage": -1}] * 2


def test_concurrent_images_sharing_a_layer_count_it_once(quota_server: RunningBerth) -> None:
    # Given a project, and 8 images that share one layer
    with registry_client(quota_server) as client:
        project_id, name = _new_limited_project(client, 1024**3)
    shared = os.urandom(30_000)

    def push(n: int) -> int:
        with registry_client(quota_server) as client:
            repo = f"{name}/shared-{n % 2}"  # two repositories of the project
            layer = push_blob(client, repo, shared)
            config = config_blob(f"shared-{n}")
            push_blob(client, repo, config)
            manifest = json.loads(image_manifest(config))
            manifest["layers"] = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]
            body = json.dumps(manifest).encode()
            put = client.put(
                f"/v2/{repo}/manifests/v{n}", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
            assert put.status_code == 201, put.text
            return len(config) + len(body)

    # When they are pushed at once
    with ThreadPoolExecutor(8) as pool:
        own = sum(pool.map(push, range(8)))
    # Then the layer counts once, each config and manifest once
    with registry_client(quota_server) as client:
        assert _used(client, project_id) == len(shared) + own
