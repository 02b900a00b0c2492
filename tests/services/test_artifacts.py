"""Artifact services: a delete through the REST API or the distribution API is one
transaction with its audit event and its DELETE_ARTIFACT webhook events, written by the same
function; a refused one leaves a failed event and nothing else."""

from __future__ import annotations

import hashlib

import pytest

from access.errors import Forbidden
from access.roles import Role
from core import audit
from core.registry import ManifestStore
from models import (
    AuditEvent,
    Job,
    Manifest,
    ManifestDigest,
    ProjectMember,
    Repository,
    Tag,
    WebhookExecution,
)
from services import artifacts, projects, webhooks
from services.artifacts import RepositoryPath
from services.rights import ProjectRef
from tests.services.support import GivenCall, a_user

POLICY = {
    "name": "ci",
    "event_types": ["DELETE_ARTIFACT"],
    "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}],
}


async def an_artifact(repository: str, project_id: int, tag: str, seed: str) -> str:
    """A manifest row tagged `tag` in the repository (made when missing); its digest."""
    content = f'{{"schemaVersion":2,"seed":"{seed}"}}'.encode()
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    repo, _ = await Repository.get_or_create(name=repository, project_id=project_id)
    manifest = await Manifest.create(
        repository=repo, digest=digest, media_type="application/vnd.oci.image.manifest.v1+json",
        size=len(content), content=content,
    )  # fmt: skip
    await ManifestDigest.create(repository=repo, digest=digest, manifest=manifest)
    await Tag.create(repository=repo, name=tag, manifest=manifest)
    return digest


async def a_watched_project(admin: GivenCall, name: str) -> int:
    """A project with a policy that wants DELETE_ARTIFACT."""
    project_id, _ = await projects.create(GivenCall(admin.identity, {"project_name": name}))
    await webhooks.create(GivenCall(admin.identity, POLICY), ProjectRef(name, True))
    return project_id


async def deliveries() -> list[tuple[str, str, str]]:
    """(event type, digest, resource_url) of every webhook execution, with a job for each."""
    executions = await WebhookExecution.all().order_by("id")
    assert await Job.filter(kind="webhook").count() == len(executions)
    return [
        (
            e.event_type,
            e.payload["event_data"]["resources"][0]["digest"],
            e.payload["event_data"]["resources"][0]["resource_url"],
        )
        for e in executions
    ]


async def test_a_rest_delete_by_tag_is_one_event_and_one_webhook_event(database: str) -> None:
    # Given an artifact tagged v1 in a project whose policy wants deletions
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_watched_project(admin, "shop")
    digest = await an_artifact("shop/app", project_id, "v1", "a")
    # When it is deleted through the REST API by its tag
    sent = await artifacts.delete_artifact(admin, RepositoryPath("shop", "shop/app"), "v1")
    # Then it is gone with its tag; one event names its digest, one delivery is queued
    assert sent == 1
    assert await Manifest.filter(digest=digest).count() == 0
    assert await Tag.filter(name="v1").count() == 0
    (event,) = await AuditEvent.filter(operation="delete", resource_type=audit.ARTIFACT)
    assert (event.resource, event.project_id, event.success) == (
        f"shop/app@{digest}",
        project_id,
        True,
    )
    assert await deliveries() == [("DELETE_ARTIFACT", digest, f"registry.test/shop/app@{digest}")]


async def test_a_registry_delete_writes_the_same_event_as_a_rest_one(database: str) -> None:
    # Given an artifact in a watched project
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_watched_project(admin, "shop")
    digest = await an_artifact("shop/app", project_id, "v1", "b")
    # When the distribution API deletes it by digest
    sent = await ManifestStore().delete("shop/app", digest, "registry.test")
    # Then the event and the webhook event are those of a REST delete
    assert sent == 1
    (event,) = await AuditEvent.filter(operation="delete", resource_type=audit.ARTIFACT)
    assert (event.resource, event.project_id, event.success) == (
        f"shop/app@{digest}",
        project_id,
        True,
    )
    assert await deliveries() == [("DELETE_ARTIFACT", digest, f"registry.test/shop/app@{digest}")]


async def test_a_refused_delete_leaves_a_failed_event_and_nothing_else(database: str) -> None:
    # Given an artifact in a watched project, and a developer of that project
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_watched_project(admin, "shop")
    digest = await an_artifact("shop/app", project_id, "v1", "c")
    developer = await a_user("dev")
    await ProjectMember.create(
        project_id=project_id, entity_type="u", entity_id=developer.user_id, role=Role.DEVELOPER
    )
    # When the developer tries to delete it
    with pytest.raises(Forbidden):
        await artifacts.delete_artifact(
            GivenCall(developer), RepositoryPath("shop", "shop/app"), "v1"
        )
    # Then it stays, no delivery is queued, and the refusal is filed under the project
    assert await Manifest.filter(digest=digest).count() == 1
    assert await deliveries() == []
    (event,) = await AuditEvent.filter(operation="delete", resource_type=audit.ARTIFACT)
    assert (event.username, event.success, event.resource) == ("dev", False, "shop/app:v1")
    assert event.project_id == project_id


async def test_a_repository_delete_is_one_event_with_a_webhook_event_per_artifact(
    database: str,
) -> None:
    # Given a repository with two artifacts in a watched project
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_watched_project(admin, "shop")
    first = await an_artifact("shop/app", project_id, "v1", "d")
    second = await an_artifact("shop/app", project_id, "v2", "e")
    # When the repository is deleted
    sent = await artifacts.delete_repository(admin, RepositoryPath("shop", "shop/app"))
    # Then it is gone, one event names it, and each artifact has its delivery
    assert sent == 2
    assert await Repository.filter(name="shop/app").count() == 0
    (event,) = await AuditEvent.filter(operation="delete", resource_type=audit.REPOSITORY)
    assert (event.resource, event.success) == ("shop/app", True)
    assert sorted(d[1] for d in await deliveries()) == sorted([first, second])


async def test_a_push_writes_its_event_and_its_webhook_event_with_the_manifest(
    database: str,
) -> None:
    # Given a project whose policy wants pushes
    admin = GivenCall(await a_user("root", sysadmin=True))
    await projects.create(GivenCall(admin.identity, {"project_name": "shop"}))
    wants_pushes = {**POLICY, "event_types": ["PUSH_ARTIFACT"]}
    await webhooks.create(GivenCall(admin.identity, wants_pushes), ProjectRef("shop", True))
    index_type = "application/vnd.oci.image.index.v1+json"
    index = f'{{"schemaVersion":2,"mediaType":"{index_type}","manifests":[]}}'.encode()
    # When an (empty) index is pushed as v1
    pushed = await ManifestStore().put(
        "shop/app", "shop", "v1", index, index_type, "root", "registry.test"
    )
    # Then the push's event, its pipeline job and its delivery were written with it
    (event,) = await AuditEvent.filter(operation="create", resource_type=audit.ARTIFACT)
    assert (event.resource, event.success) == (f"shop/app:v1@{pushed.digest}", True)
    assert await Job.filter(kind="push").count() == 1
    assert await deliveries() == [("PUSH_ARTIFACT", pushed.digest, "registry.test/shop/app:v1")]
