"""Content trust and cosign enforcement together, in Berth's own process on SQLite and
PostgreSQL: with both switches on, a pull needs both a verified cosign signature and
trust data signing what is served."""

from __future__ import annotations

from tests.content_trust.support import NOT_SIGNED, pull, sign, switch
from tests.factories import app_image, app_project, message
from tests.support import InProcessBerth, waited_for


async def cosign_signed(berth: InProcessBerth, repo: str, digest: str) -> None:
    """Wait until Berth's own cosign signature of digest exists (sign on push runs after the
    push was answered): its sha256-<hex>.sig tag is served."""
    tag = digest.replace(":", "-", 1) + ".sig"

    async def served() -> bool:
        return (await pull(berth, repo, tag)).status_code == 200

    await waited_for(f"Berth's cosign signature of {digest}", served, within=60)


async def test_both_policies_must_hold(in_process: InProcessBerth) -> None:
    # Given a project that signs on push, with an image cosign-signed and signed in Notary,
    # one cosign-signed only, and one pushed after signing on push stopped, signed in
    # Notary only
    _, project = await app_project(in_process, prefix="dct-both")
    repo = f"{project}/app"
    await switch(in_process, project, True, "sign_on_push")
    both = await app_image(in_process, repo, "both")
    cosign_only = await app_image(in_process, repo, "cosign-only")
    await cosign_signed(in_process, repo, both)
    await cosign_signed(in_process, repo, cosign_only)
    await switch(in_process, project, False, "sign_on_push")
    notary_only = await app_image(in_process, repo, "notary-only")
    await sign(repo, "both", both)
    await sign(repo, "notary-only", notary_only)
    # When both policies are switched on and each is pulled
    await switch(in_process, project, True)
    await switch(in_process, project, True, "enable_content_trust_cosign")
    answers = {
        tag: await pull(in_process, repo, tag) for tag in ("both", "cosign-only", "notary-only")
    }
    # Then only the image signed both ways is served; each refusal says what is missing
    assert {tag: a.status_code for tag, a in answers.items()} == {
        "both": 200,
        "cosign-only": 412,
        "notary-only": 412,
    }
    assert message(answers["cosign-only"]) == NOT_SIGNED
    assert "signed by a key it trusts" in message(answers["notary-only"])
