"""Copying an artifact between repositories (Harbor's CopyArtifact) on a real server: the
copy pulls byte for byte, keeps its tags, brings an index's children, and needs pull on the
source and push on the target."""

from __future__ import annotations

import json
import uuid

from tests.factories import (
    GZIP_LAYER,
    OCI_MANIFEST,
    admin_client,
    artifact_url,
    caller,
    new_member,
    new_project,
    push_layers,
    registry_client,
    repository_url,
    sha256,
)
from tests.support import RunningBerth

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def copy(client_or_admin: object, target: str, source: str) -> object:
    url = f"{repository_url(target)}/artifacts"
    return client_or_admin.post(url, params={"from": source})  # type: ignore[attr-defined]


def test_a_copy_pulls_the_same_bytes_with_its_tags(berth_server: RunningBerth) -> None:
    # Given an image with a layer in one project
    _, source_project = new_project(berth_server)
    _, target_project = new_project(berth_server)
    source = f"{source_project}/app"
    with registry_client(berth_server) as client:
        digest, layers = push_layers(client, source, "v1", [GZIP_LAYER])
        layer = client.get(f"/v2/{source}/blobs/{layers[0]}").content
        # When it is copied by tag into a repository of another project
        copied = copy(client, f"{target_project}/mirror/app", f"{source}:v1")
        # Then the copy is there by digest, the same manifest and the same layer bytes
        assert copied.status_code == 201, copied.text  # type: ignore[attr-defined]
        location = copied.headers["Location"]  # type: ignore[attr-defined]
        assert location.endswith(f"/artifacts/{digest}")
        target = f"{target_project}/mirror/app"
        pulled = client.get(f"/v2/{target}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
        assert pulled.status_code == 200 and sha256(pulled.content) == digest
        assert client.get(f"/v2/{target}/blobs/{layers[0]}").content == layer
        # And with its tag
        by_tag = client.get(f"/v2/{target}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert by_tag.headers["Docker-Content-Digest"] == digest
        tags = client.get(f"{artifact_url(target, digest)}/tags").json()
    assert [t["name"] for t in tags] == ["v1"]
    # And the copy is audited as a push into the target
    with admin_client(berth_server) as admin:
        logged = admin.get(f"/projects/{target_project}/logs").json()
    assert any(e["operation"] == "create" and digest in e["resource"] for e in logged)


def test_an_index_is_copied_with_its_children(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    source = f"{project}/multi"
    with registry_client(berth_server) as client:
        child, _ = push_layers(client, source, "amd64", [GZIP_LAYER])
        child_body = client.get(f"/v2/{source}/manifests/{child}", headers={"Accept": OCI_MANIFEST})
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": child,
                        "size": len(child_body.content),
                        "platform": {"architecture": "amd64", "os": "linux"},
                    }
                ],
            }
        ).encode()
        put = client.put(
            f"/v2/{source}/manifests/{sha256(index)}",
            content=index,
            headers={"Content-Type": OCI_INDEX},
        )
        assert put.status_code == 201, put.text
        copied = copy(client, f"{project}/copy", f"{source}@{sha256(index)}")
        assert copied.status_code == 201, copied.text  # type: ignore[attr-defined]
        listed = client.get(f"{repository_url(f'{project}/copy')}/artifacts").json()
        got = client.get(f"/v2/{project}/copy/manifests/{child}", headers={"Accept": OCI_MANIFEST})
    assert {a["digest"] for a in listed} == {sha256(index), child}
    assert got.status_code == 200 and got.content == child_body.content


def test_a_copy_needs_pull_on_the_source_and_push_on_the_target(
    berth_server: RunningBerth,
) -> None:
    _, source_project = new_project(berth_server)
    _, target_project = new_project(berth_server)
    with registry_client(berth_server) as client:
        push_layers(client, f"{source_project}/app", "v1", [GZIP_LAYER])
    guest_of_target = new_member(berth_server, target_project, 3)
    developer = new_member(berth_server, target_project, 2)
    with caller(berth_server, guest_of_target) as guest:
        refused = copy(guest, f"{target_project}/app", f"{source_project}/app:v1")
    with caller(berth_server, developer) as dev:
        unseen = copy(dev, f"{target_project}/app", f"{source_project}/app:v1")
    with caller(berth_server, None) as nobody:
        anonymous = copy(nobody, f"{target_project}/app", f"{source_project}/app:v1")
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert unseen.status_code == 404  # type: ignore[attr-defined]  (the source is hidden)
    assert anonymous.status_code in (401, 404)  # type: ignore[attr-defined]
    with admin_client(berth_server) as admin:
        target = admin.get(f"/projects/{target_project}/repositories").json()
    assert target == []


def test_bad_sources_are_named(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        url = f"/projects/{project}/repositories/app/artifacts"
        missing = admin.post(url)
        malformed = admin.post(url, params={"from": "no-reference"})
        unknown = admin.post(url, params={"from": f"{project}/nothing:v1"})
        no_project = admin.post(
            "/projects/no-such-project-x/repositories/app/artifacts",
            params={"from": f"{project}/nothing:v1"},
        )
    assert missing.status_code == 400 and "from" in missing.text
    assert malformed.status_code == 400 and "from" in malformed.text
    assert unknown.status_code == 404
    assert no_project.status_code == 404


def test_a_copy_meets_the_push_policies_of_the_target(berth_server: RunningBerth) -> None:
    # Given a target whose tag v1 is immutable and already on another image
    _, source_project = new_project(berth_server)
    _, target_project = new_project(berth_server)
    with registry_client(berth_server) as client:
        source, _ = push_layers(client, f"{source_project}/app", "v1", [GZIP_LAYER])
        kept, _ = push_layers(client, f"{target_project}/app", "v1", [GZIP_LAYER])
    rule = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    with admin_client(berth_server) as admin:
        made = admin.post(f"/projects/{target_project}/immutabletagrules", json=rule)
        assert made.status_code == 201, made.text
    # When the other image is copied there by tag
    with registry_client(berth_server) as client:
        refused = copy(client, f"{target_project}/app", f"{source_project}/app:v1")
        # Then the copy is refused as the push would be, and v1 still names the first image
        assert refused.status_code == 412, refused.text  # type: ignore[attr-defined]
        assert "immutable" in refused.text  # type: ignore[attr-defined]
        still = client.get(
            f"/v2/{target_project}/app/manifests/v1", headers={"Accept": OCI_MANIFEST}
        )
    assert still.headers["Docker-Content-Digest"] == kept != source


def test_a_copy_over_the_target_quota_is_refused(berth_server: RunningBerth) -> None:
    # Given a target project of 1 000 bytes and a source image of some 200 kB
    _, source_project = new_project(berth_server)
    target_project = f"quota-{uuid.uuid4().hex[:8]}"
    with admin_client(berth_server) as admin:
        made = admin.post("/projects", json={"project_name": target_project, "storage_limit": 1000})
        assert made.status_code == 201, made.text
    with registry_client(berth_server) as client:
        push_layers(client, f"{source_project}/app", "v1", [GZIP_LAYER])
        # When it is copied there
        refused = copy(client, f"{target_project}/app", f"{source_project}/app:v1")
    # Then the copy is refused with the quota's message, and nothing was copied
    assert refused.status_code == 403, refused.text  # type: ignore[attr-defined]
    assert "exceed the configured upper limit" in refused.text  # type: ignore[attr-defined]
    with admin_client(berth_server) as admin:
        listed = admin.get(f"/projects/{target_project}/artifacts").json()
    assert listed == []
