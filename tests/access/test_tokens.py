"""Registry tokens: only tokens this service signed, for this audience, unexpired, hold."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from access.errors import AuthenticationFailed
from access.tokens import TokenService, derived_key, key_id, load_or_create_key

ACCESS = [{"type": "repository", "name": "library/app", "actions": ["pull"]}]


@pytest.fixture
def service(tmp_path: Path) -> TokenService:
    return TokenService(load_or_create_key(tmp_path / "token.pem"), "issuer", "registry", 60)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_it_issued_verifies_with_its_access(service: TokenService) -> None:
    token, expires_in, _ = service.issue("alice", ACCESS)
    claims = service.verify(token)
    assert (claims.subject, expires_in) == ("alice", 60)
    assert claims.actions_for("library/app") == {"pull"}
    assert claims.actions_for("library/other") == set()


def test_the_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path / "token.pem")
    assert (tmp_path / "token.pem").stat().st_mode & 0o777 == 0o600
    assert key_id(load_or_create_key(tmp_path / "token.pem")) == key_id(first)


def forged(service: TokenService, kind: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "issuer",
        "sub": "alice",
        "aud": "registry",
        "exp": now + 60,
        "iat": now,
        "nbf": now,
        "access": ACCESS,
    }
    if kind == "other-key":
        return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    if kind == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    if kind == "hs256-with-public-key-bytes":
        return jwt.encode(claims, "not-the-key", algorithm="HS256")
    if kind == "expired":
        return jwt.encode(
            {**claims, "exp": now - 10, "iat": now - 100}, service._key, algorithm="ES256"
        )
    if kind == "other-audience":
        return jwt.encode({**claims, "aud": "someone-else"}, service._key, algorithm="ES256")
    if kind == "other-issuer":
        return jwt.encode({**claims, "iss": "mallory"}, service._key, algorithm="ES256")
    if kind == "tampered-claim":
        header, _payload, signature = service.issue("alice", ACCESS)[0].split(".")
        grown = [{**ACCESS[0], "actions": ["pull", "push", "delete"]}]
        return f"{header}.{b64({**claims, 'access': grown})}.{signature}"
    if kind == "garbage":
        return "not.a.token"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "other-key",
        "alg-none",
        "hs256-with-public-key-bytes",
        "expired",
        "other-audience",
        "other-issuer",
        "tampered-claim",
        "garbage",
    ],
)
def test_forged_tokens_are_refused(service: TokenService, kind: str) -> None:
    with pytest.raises(AuthenticationFailed):
        service.verify(forged(service, kind))


def test_a_refresh_token_gives_back_its_subject_and_binding(service: TokenService) -> None:
    refresh = service.issue_refresh("alice", "bound-to-this")
    assert service.verify_refresh(refresh) == ("alice", "bound-to-this")


def test_a_refresh_token_is_never_an_access_token(service: TokenService) -> None:
    with pytest.raises(AuthenticationFailed):
        service.verify(service.issue_refresh("alice", "b"))


def test_an_access_token_is_never_a_refresh_token(service: TokenService) -> None:
    with pytest.raises(AuthenticationFailed):
        service.verify_refresh(service.issue("alice", ACCESS)[0])


def test_a_refresh_token_of_another_key_is_refused(service: TokenService, tmp_path: Path) -> None:
    other = TokenService(load_or_create_key(tmp_path / "other.pem"), "issuer", "registry", 60)
    with pytest.raises(AuthenticationFailed):
        service.verify_refresh(other.issue_refresh("alice", "b"))


def test_nodes_sharing_a_secret_take_each_others_tokens(tmp_path: Path) -> None:
    # Given two nodes with data folders of their own, given the same secret_key
    secret = b"the cluster's secret key, shared"
    a = derived_key(secret, tmp_path / "a" / "token.pem")
    b = derived_key(secret, tmp_path / "b" / "token.pem")
    # When node A issues a token, then node B takes it
    token, _, _ = TokenService(a, "issuer", "registry", 60).issue("alice", ACCESS)
    assert TokenService(b, "issuer", "registry", 60).verify(token).subject == "alice"
    # ... and each keeps that key in its keys/token.pem, private, as a generated one is kept
    for node in ("a", "b"):
        path = tmp_path / node / "token.pem"
        assert path.stat().st_mode & 0o777 == 0o600
        assert key_id(load_or_create_key(path)) == key_id(a)
    # A node given another secret signs with another key
    other = derived_key(b"another cluster's secret key", tmp_path / "c" / "token.pem")
    with pytest.raises(AuthenticationFailed):
        TokenService(other, "issuer", "registry", 60).verify(token)
