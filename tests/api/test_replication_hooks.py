"""The CI webhook trigger, POST /hooks/replication/{policy_id} (in-process, on SQLite and
PostgreSQL): a delivery signed with the policy's trigger secret starts one execution, the
same delivery id again starts none, anything unsigned is 401 and starts nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx

from models import AuditEvent, RemoteRegistry, ReplicationExecution
from tests.factories import (
    OCI_MANIFEST,
    Answer,
    AppApi,
    app_image,
    error_of,
    replication_policy,
    unique,
)
from tests.support import InProcessBerth, RunningBerth, waited_for

HOOK = "/hooks/replication/{}"


def signed(secret: str, body: bytes) -> str:
    """What GitHub (and Berth) send: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def policy_with_secret(berth: InProcessBerth, **fields: Any) -> tuple[int, str]:
    """A policy and its trigger secret, made over the API as a user would; (id, secret)."""
    policy = await replication_policy(**fields)
    answer = await AppApi(berth).post(f"/replication/policies/{policy.id}/trigger_secret")
    assert answer.status_code == 200, answer.text
    return int(policy.id), str(answer.json()["secret"])


async def deliver(
    berth: InProcessBerth, policy_id: int, body: bytes, headers: dict[str, str]
) -> Answer:
    """A delivery as a CI system sends it: no Berth credentials."""
    answer = await berth.client.post(HOOK.format(policy_id), data=body, headers=headers)
    return Answer(answer.status_code, answer.headers, await answer.get_data())


async def executions() -> list[ReplicationExecution]:
    return list(await ReplicationExecution.all().order_by("id"))


async def hook_events() -> list[AuditEvent]:
    return list(await AuditEvent.filter(resource_type="replication").order_by("id"))


def headers_for(sender: str, secret: str, body: bytes, delivery: str) -> dict[str, str]:
    if sender == "github":
        return {"X-Hub-Signature-256": signed(secret, body), "X-GitHub-Delivery": delivery}
    if sender == "gitlab":
        return {"X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": delivery}
    return {"X-Berth-Signature": signed(secret, body), "Idempotency-Key": delivery}


async def test_a_signed_delivery_starts_one_execution_and_its_repeat_none(
    held_jobs: InProcessBerth,
) -> None:
    for sender in ("github", "gitlab", "berth"):
        await _delivered_once(held_jobs, sender)


async def _delivered_once(held_jobs: InProcessBerth, sender: str) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    body = json.dumps({"ref": "refs/heads/main", "repository": {"name": "app"}}).encode()
    headers = headers_for(sender, secret, body, "delivery-1")
    # When the CI system delivers, then delivers the same again (its retry)
    first = await deliver(held_jobs, policy_id, body, headers)
    again = await deliver(held_jobs, policy_id, body, headers)
    # Then the first starts one execution (trigger webhook, the whole policy) ...
    assert first.status_code == 201, first.text
    execution_id = first.json()["execution_id"]
    assert first.headers["Location"] == f"/api/v2.0/replication/executions/{execution_id}"
    (execution,) = [e for e in await executions() if e.policy_id == policy_id]
    assert (execution.id, execution.trigger, execution.scope) == (execution_id, "webhook", None)
    assert execution.operator == f"webhook:{sender}" and execution.delivery_id == "delivery-1"
    # ... and the repeat answers 200 with the same execution, starting nothing
    assert (again.status_code, again.json()) == (200, {"execution_id": execution_id})
    assert len([e for e in await executions() if e.policy_id == policy_id]) == 1
    # And both are audited, as the webhook's sender
    audited = [e for e in await hook_events() if e.username == f"webhook:{sender}"]
    assert [e.success for e in audited] == [True, True]
    assert "nothing started" in audited[1].description


async def test_a_new_delivery_id_starts_another_and_a_body_narrows_the_run(
    held_jobs: InProcessBerth,
) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    tagged = json.dumps({"repository": "library/app", "tag": "v1"}).encode()
    by_digest = json.dumps({"repository": "library/app", "digest": "sha256:" + "b" * 64}).encode()
    for n, body in enumerate((tagged, by_digest, b"")):
        answer = await deliver(
            held_jobs, policy_id, body, headers_for("berth", secret, body, f"d{n}")
        )
        assert answer.status_code == 201, answer.text
    # No delivery id at all: every delivery is new
    unkeyed = await deliver(held_jobs, policy_id, b"", {"X-Berth-Signature": signed(secret, b"")})
    assert unkeyed.status_code == 201
    scopes = [e.scope for e in await executions()]
    assert scopes == [
        {"repository": "library/app", "reference": "v1"},
        {"repository": "library/app", "reference": "sha256:" + "b" * 64},
        None,
        None,
    ]


WRONG = [
    {},  # unsigned
    {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    {"X-Berth-Signature": "sha256=zz"},
    {"X-Gitlab-Token": "not-the-secret"},
    {"X-Hub-Signature-256": "sha256=ä"},
]


async def test_a_wrong_or_missing_signature_is_401_starts_nothing_and_is_audited(
    held_jobs: InProcessBerth,
) -> None:
    policy_id, _ = await policy_with_secret(held_jobs)
    for headers in WRONG:
        answer = await deliver(held_jobs, policy_id, b'{"repository": "library/app"}', headers)
        assert (answer.status_code, error_of(answer)) == (401, "UNAUTHORIZED"), headers
    assert await executions() == []
    refused = await hook_events()
    assert [(e.success, e.resource) for e in refused] == [
        (False, f"replication policy {policy_id}")
    ] * len(WRONG)


async def test_an_unknown_policy_or_one_without_a_secret_looks_like_a_wrong_signature(
    held_jobs: InProcessBerth,
) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    bare = await replication_policy()  # never given a secret
    body = b"{}"
    headers = {"X-Hub-Signature-256": signed(secret, body)}
    # When the right signature goes to an unknown policy and to one without a secret
    unknown = await deliver(held_jobs, 999_999, body, headers)
    secretless = await deliver(held_jobs, int(bare.id), body, headers)
    gitlab = await deliver(held_jobs, int(bare.id), body, {"X-Gitlab-Token": ""})
    # Then each answers just as a wrong signature does, and starts nothing
    for answer in (unknown, secretless, gitlab):
        assert answer.status_code == 401 and answer.json() == unknown.json()
    assert await executions() == []
    assert [e.success for e in await hook_events()] == [False, False, False]
    # And a secret replaced is no longer accepted
    await AppApi(held_jobs).post(f"/replication/policies/{policy_id}/trigger_secret")
    assert (await deliver(held_jobs, policy_id, body, headers)).status_code == 401


async def test_a_disabled_or_busy_policy_says_why_to_a_signed_delivery(
    held_jobs: InProcessBerth,
) -> None:
    disabled_id, disabled_secret = await policy_with_secret(held_jobs, enabled=False)
    single_id, single_secret = await policy_with_secret(held_jobs, single_active_replication=True)
    off = await deliver(
        held_jobs, disabled_id, b"", {"X-Berth-Signature": signed(disabled_secret, b"")}
    )
    assert (off.status_code, error_of(off)) == (400, "BAD_REQUEST")
    assert "disabled" in off.json()["errors"][0]["message"]
    sign = {"X-Berth-Signature": signed(single_secret, b"")}
    assert (await deliver(held_jobs, single_id, b"", sign)).status_code == 201
    busy = await deliver(held_jobs, single_id, b"", sign)
    assert (busy.status_code, error_of(busy)) == (409, "CONFLICT")
    assert len(await executions()) == 1


BAD_SCOPES = [
    {"repository": "Library/App"},
    {"repository": "app"},  # push mode: this registry's name needs its project
    {"repository": "library/app", "tag": "-x"},
    {"repository": "library/app", "digest": "sha256:12"},
    {"repository": "library/app", "tag": "v1", "digest": "x"},
    {"repository": "library/app", "tag": 1},
    {"repository": "library/a\x00pp"},
]


async def test_a_signed_body_naming_an_artifact_badly_is_400(
    held_jobs: InProcessBerth,
) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    for body in BAD_SCOPES:
        raw = json.dumps(body).encode()
        signature = {"X-Berth-Signature": signed(secret, raw)}
        answer = await deliver(held_jobs, policy_id, raw, signature)
        assert (answer.status_code, error_of(answer)) == (400, "BAD_REQUEST"), body
    assert await executions() == []


async def test_what_a_caller_can_send_is_never_a_500(held_jobs: InProcessBerth) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    huge = b"x" * ((1 << 20) + 1)
    too_large = await deliver(held_jobs, policy_id, huge, {"X-Berth-Signature": "sha256=0"})
    assert (too_large.status_code, error_of(too_large)) == (413, "REQUEST_ENTITY_TOO_LARGE")
    # not JSON, but signed: the whole policy runs
    raw = b"\xff\x00not json"
    ok = await deliver(held_jobs, policy_id, raw, {"X-Berth-Signature": signed(secret, raw)})
    assert ok.status_code == 201, ok.text
    # a delivery id longer than the column, an id past any row, a path that is no id
    long_id = {"X-Berth-Signature": signed(secret, b""), "Idempotency-Key": "k" * 300}
    assert (await deliver(held_jobs, policy_id, b"", long_id)).status_code == 400
    assert (await deliver(held_jobs, 2**40, b"", {})).status_code == 404
    answer = await held_jobs.client.post("/hooks/replication/abc", data=b"")
    assert answer.status_code == 404
    wrong_method = await held_jobs.client.get(HOOK.format(policy_id))
    assert wrong_method.status_code == 405


async def test_the_same_delivery_twice_at_once_starts_one_execution(
    held_jobs: InProcessBerth,
) -> None:
    policy_id, secret = await policy_with_secret(held_jobs)
    headers = headers_for("github", secret, b"{}", "racing")
    answers = await asyncio.gather(
        *(deliver(held_jobs, policy_id, b"{}", headers) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["execution_id"] for a in answers}) == 1
    assert len(await executions()) == 1


async def test_a_signed_delivery_naming_a_tag_has_the_engine_copy_just_that(
    in_process: InProcessBerth, distribution: RunningBerth
) -> None:
    # Given two tags pushed here and a push policy to a Distribution, with a trigger secret
    digest = await app_image(in_process, "library/hooked", "v1")
    await app_image(in_process, "library/hooked", "v2")
    remote = await RemoteRegistry.create(
        name=unique("dist-"), url=distribution.url, type="docker-registry"
    )
    policy_id, secret = await policy_with_secret(in_process, dest_registry_id=remote.id)
    # When CI delivers a push of v1
    body = json.dumps({"repository": "library/hooked", "tag": "v1"}).encode()
    answer = await deliver(in_process, policy_id, body, headers_for("github", secret, body, "g1"))
    assert answer.status_code == 201, answer.text
    path = f"/replication/executions/{answer.json()['execution_id']}"

    async def ended() -> dict[str, Any] | None:
        row: dict[str, Any] = (await AppApi(in_process).get(path)).json()
        return row if row["status"] != "InProgress" else None

    # Then the server's engine copies v1, and only v1, to the Distribution
    execution = await waited_for("the execution ends", ended)
    assert (execution["status"], execution["total"], execution["succeed"]) == ("Succeed", 1, 1)
    tasks = (await AppApi(in_process).get(f"{path}/tasks")).json()
    assert [t["src_resource"] for t in tasks] == ["library/hooked:[v1]"]  # as Harbor names it
    accept = {"Accept": OCI_MANIFEST}
    async with httpx.AsyncClient(base_url=distribution.url, headers=accept) as remote_api:
        copied = await remote_api.get("/v2/library/hooked/manifests/v1")
        other = await remote_api.get("/v2/library/hooked/manifests/v2")
    assert copied.status_code == 200 and copied.headers["Docker-Content-Digest"] == digest
    assert other.status_code == 404
