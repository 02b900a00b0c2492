"""An artifact's tags, additions and icon on a real server, and the artifact parameters
Harbor's clients send (with_label, with_immutable_status, with_signature)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile

import pytest

from tests.factories import (
    API,
    GZIP_LAYER,
    OCI_MANIFEST,
    admin_client,
    artifact_url,
    caller,
    new_project,
    push_blob,
    push_image,
    push_layers,
    registry_client,
    sha256,
)
from tests.support import RunningBerth

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CHART_YAML = b"""apiVersion: v2
name: shop
version: 1.2.3
dependencies:
  - name: redis
    version: 17.0.0
    repository: https://charts.example.test
"""


def chart_archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"shop/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(out.getvalue())


def push_chart(server: RunningBerth, repo: str, files: dict[str, bytes]) -> str:
    with registry_client(server) as client:
        config = json.dumps({"name": "shop", "version": "1.2.3"}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, **push_blob(client, repo, config)},
            "layers": [{"mediaType": HELM_LAYER, **push_blob(client, repo, chart_archive(files))}],
        }
        body = json.dumps(manifest).encode()
        put = client.put(
            f"/v2/{repo}/manifests/1.2.3", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
    assert put.status_code == 201, put.text
    return sha256(body)


def test_tags_are_listed_paged_and_filtered(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    with admin_client(berth_server) as admin:
        tags_url = artifact_url(repo, digest).removeprefix(API) + "/tags"
        for name in ("v2", "latest"):
            assert admin.post(tags_url, json={"name": name}).status_code == 201
        listed = admin.get(tags_url, params={"with_immutable_status": "true"})
        page = admin.get(tags_url, params={"page_size": 1, "page": 2, "sort": "name"})
        found = admin.get(tags_url, params={"q": "name=~v"})
        by_tag = admin.get(artifact_url(repo, "latest").removeprefix(API) + "/tags")
        bad = admin.get(tags_url, params={"sort": "size"})
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "3"
    tags = listed.json()
    assert [t["name"] for t in tags] == ["latest", "v1", "v2"]
    for tag in tags:
        assert tag["artifact_id"] == tags[0]["artifact_id"]
        assert tag["immutable"] is False and tag["signed"] is False
        assert tag["push_time"].endswith("Z") and tag["pull_time"] is None
        assert set(tag) == {
            "id", "repository_id", "artifact_id", "name", "push_time", "pull_time",
            "immutable", "signed",
        }  # fmt: skip
    assert [t["name"] for t in page.json()] == ["v1"]
    assert [t["name"] for t in found.json()] == ["v1", "v2"]
    assert len(by_tag.json()) == 3
    assert bad.status_code == 400


def test_build_history_lists_the_config_history(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    repo = f"{project}/app"
    history = [
        {"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
        {"created": "2026-01-02T00:00:00Z", "created_by": 'CMD ["sh"]', "empty_layer": True},
    ]
    with registry_client(berth_server) as client:
        config = json.dumps({"architecture": "amd64", "os": "linux", "history": history}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **push_blob(client, repo, config),
            },
            "layers": [],
        }
        body = json.dumps(manifest).encode()
        client.put(
            f"/v2/{repo}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
        ).raise_for_status()
    with caller(berth_server, "admin") as admin:
        got = admin.get(artifact_url(repo, "v1") + "/additions/build_history")
        values = admin.get(artifact_url(repo, "v1") + "/additions/values.yaml")
        unknown = admin.get(artifact_url(repo, "v1") + "/additions/nothing")
    assert got.status_code == 200, got.text
    assert got.json() == history
    assert values.status_code == 404
    assert unknown.status_code == 404


def test_a_chart_has_its_values_readme_and_dependencies(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    repo = f"{project}/charts/shop"
    values = b"replicas: 2\nimage: shop:1\n"
    readme = b"# Shop\n\nThe shop chart.\n"
    files = {"Chart.yaml": CHART_YAML, "values.yaml": values, "README.md": readme}
    digest = push_chart(berth_server, repo, files)
    with caller(berth_server, "admin") as admin:
        base = artifact_url(repo, digest) + "/additions"
        got_values = admin.get(f"{base}/values.yaml")
        got_readme = admin.get(f"{base}/readme.md")
        deps = admin.get(f"{base}/dependencies")
        history = admin.get(f"{base}/build_history")
        artifact = admin.get(artifact_url(repo, digest)).json()
    assert got_values.status_code == 200 and got_values.content == values
    assert got_readme.status_code == 200 and got_readme.content == readme
    assert deps.json() == [
        {"name": "redis", "version": "17.0.0", "repository": "https://charts.example.test"}
    ]
    assert history.status_code == 404
    assert artifact["type"] == "CHART"


def test_a_chart_without_a_readme_has_no_readme_addition(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    repo = f"{project}/bare"
    digest = push_chart(berth_server, repo, {"Chart.yaml": b"apiVersion: v2\nname: shop\n"})
    with caller(berth_server, "admin") as admin:
        base = artifact_url(repo, digest) + "/additions"
        assert admin.get(f"{base}/readme.md").status_code == 404
        assert admin.get(f"{base}/dependencies").json() == []


def test_each_artifact_names_an_icon_that_is_served(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    image = push_image(berth_server, f"{project}/app", "v1")
    chart = push_chart(berth_server, f"{project}/chart", {"Chart.yaml": CHART_YAML})
    with admin_client(berth_server) as admin:
        image_icon = admin.get(artifact_url(f"{project}/app", image).removeprefix(API)).json()
        chart_icon = admin.get(artifact_url(f"{project}/chart", chart).removeprefix(API)).json()
        served = admin.get(f"/icons/{image_icon['icon']}")
        unknown = admin.get(f"/icons/sha256:{'0' * 64}")
    assert image_icon["icon"] != chart_icon["icon"]
    assert served.status_code == 200
    assert served.json()["content_type"] == "image/svg+xml"
    svg = base64.b64decode(served.json()["content"])
    assert svg.startswith(b"<svg") and sha256(svg) == image_icon["icon"]
    assert unknown.status_code == 404


@pytest.mark.parametrize("parameter", ["with_label", "with_immutable_status", "with_signature"])
def test_artifact_parameters_are_taken_and_checked(
    berth_server: RunningBerth, parameter: str
) -> None:
    _, project = new_project(berth_server)
    with registry_client(berth_server) as client:
        digest, _ = push_layers(client, f"{project}/app", "v1", [GZIP_LAYER])
    with admin_client(berth_server) as admin:
        url = artifact_url(f"{project}/app", digest).removeprefix(API)
        listed = admin.get(url.rsplit("/", 1)[0], params={parameter: "true"})
        one = admin.get(url, params={parameter: "true"})
        bad = admin.get(url, params={parameter: "maybe"})
    assert listed.status_code == 200 and one.status_code == 200
    assert one.json().get("labels", []) == [] and one.json()["tags"][0]["immutable"] is False
    assert bad.status_code == 400 and parameter in bad.text
