"""A project's keys over the REST API on a real server: who may read and change them, the
PEM anyone can verify with, trusting and removing keys made elsewhere, rotation (the former
key stays trusted), and the answers to bad requests."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.factories import API, DEVELOPER, GUEST, PROJECT_ADMIN, caller, new_member, new_project
from tests.signing import makers
from tests.support import RunningBerth


def keys_url(project: str, suffix: str = "") -> str:
    return f"{API}/projects/{project}/keys{suffix}"


def test_the_signing_key_is_made_on_first_ask_and_loads_as_a_pem(
    berth_server: RunningBerth,
) -> None:
    # Given a public project
    _, project = new_project(berth_server, public=True, prefix="keys")
    # When anybody asks for its signing key, twice
    first = httpx.get(berth_server.url + keys_url(project, "/signing.pem"))
    second = httpx.get(berth_server.url + keys_url(project, "/signing.pem"))
    # Then it is the same P-256 public key, as standard tools read it
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/x-pem-file"
    assert first.text == second.text
    key = serialization.load_pem_public_key(first.content)
    assert key.curve.name == "secp256r1"  # type: ignore[union-attr]
    # And the list shows it active, with no private half
    listed = httpx.get(berth_server.url + keys_url(project)).json()
    assert [(k["kind"], k["status"]) for k in listed] == [("signing", "active")]
    assert "PRIVATE" not in str(listed)


def test_rotation_retires_the_old_key_which_stays_trusted(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, prefix="rotate")
    with caller(berth_server, "admin") as admin:
        old = admin.get(keys_url(project, "/signing.pem")).text
        rotated = admin.post(keys_url(project, "/rotate"))
        new = admin.get(keys_url(project, "/signing.pem")).text
        listed = admin.get(keys_url(project)).json()
        active = next(k for k in listed if k["status"] == "active")
        removing_active = admin.delete(keys_url(project, f"/{active['id']}"))
        retired = next(k for k in listed if k["status"] == "retired")
        removing_retired = admin.delete(keys_url(project, f"/{retired['id']}"))
    assert rotated.status_code == 201, rotated.text
    assert old != new and retired["public_key"] == old and retired["retired_time"]
    assert removing_active.status_code == 412 and "rotate" in removing_active.text
    assert removing_retired.status_code == 200


def test_who_may_read_and_change_keys(berth_server: RunningBerth) -> None:
    # Given a private project with a guest, a developer and a project admin
    _, project = new_project(berth_server, prefix="rights")
    guest, developer, owner = (
        new_member(berth_server, project, r) for r in (GUEST, DEVELOPER, PROJECT_ADMIN)
    )
    body = {"kind": "cosign", "name": "ci", "public_key": makers.public_pem(makers.new_key())}
    # When each reads, and tries to trust a key
    answers = {}
    for name in (None, guest, developer, owner):
        with caller(berth_server, name) as client:
            answers[name] = (
                client.get(keys_url(project)).status_code,
                client.post(keys_url(project), json=body).status_code,
            )
    # Then anonymous learns nothing, guest and developer read only, the project admin changes
    assert answers[None] == (404, 404)  # a private project is not revealed
    assert answers[guest] == (200, 403)
    assert answers[developer] == (200, 403)
    assert answers[owner] == (200, 201)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param(
            {"kind": "cosign", "public_key": "not a pem"}, 400, "public_key", id="bad-pem"
        ),
        pytest.param({"kind": "gpg", "public_key": "x"}, 400, "kind", id="unknown-kind"),
        pytest.param({"kind": "cosign"}, 400, "public_key", id="missing-key"),
        pytest.param(
            {"kind": "notation-root", "public_key": "LEAF"}, 400, "CA", id="root-not-a-ca"
        ),
        pytest.param([], 400, "", id="not-an-object"),
    ],
)
def test_bad_key_requests_are_refused(
    berth_server: RunningBerth, body: object, status: int, words: str
) -> None:
    _, project = new_project(berth_server, prefix="bad")
    if isinstance(body, dict) and body.get("public_key") == "LEAF":
        ca_key, ca = makers.test_ca()
        body["public_key"] = makers.pem_of(makers.leaf_of(ca_key, ca)[1])
    with caller(berth_server, "admin") as admin:
        answer = admin.post(keys_url(project), json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert answer.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_a_key_trusted_twice_conflicts_and_unknown_keys_are_404(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, prefix="dup")
    body = {"kind": "cosign", "name": "ci", "public_key": makers.public_pem(makers.new_key())}
    with caller(berth_server, "admin") as admin:
        first = admin.post(keys_url(project), json=body)
        again = admin.post(keys_url(project), json=body)
        pem = admin.get(first.headers["Location"] + ".pem")
        missing = [
            admin.get(keys_url(project, suffix)).status_code
            for suffix in ("/999999", "/99999999999999999999", "/x.pem")
        ]
        gone = admin.delete(keys_url(project, "/999999"))
    assert first.status_code == 201 and again.status_code == 409
    assert pem.status_code == 200 and pem.text.strip() == body["public_key"].strip()
    assert missing == [404, 404, 404] and gone.status_code == 404


def test_anybody_reads_a_public_projects_keys_but_only_members_change_them(
    berth_server: RunningBerth,
) -> None:
    # Given a public project with its signing key made
    _, project = new_project(berth_server, public=True, prefix="pubkeys")
    made = httpx.get(berth_server.url + keys_url(project, "/signing.pem"))
    # When anonymous lists the keys, downloads one by id, and tries to rotate and remove it
    with caller(berth_server, None) as anonymous:
        listed = anonymous.get(keys_url(project))
        key_id = listed.json()[0]["id"]
        one = anonymous.get(keys_url(project, f"/{key_id}.pem"))
        rotating = anonymous.post(keys_url(project, "/rotate"))
        removing = anonymous.delete(keys_url(project, f"/{key_id}"))
    # Then the reads answer, and the changes ask it to sign in first (401), changing nothing
    assert made.status_code == 200 and listed.status_code == 200
    assert one.status_code == 200 and one.text == made.text
    assert (rotating.status_code, removing.status_code) == (401, 401)
    after = httpx.get(berth_server.url + keys_url(project)).json()
    assert [(k["id"], k["status"]) for k in after] == [(key_id, "active")]
