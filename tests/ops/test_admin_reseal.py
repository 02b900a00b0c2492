"""`berth admin reseal`: after the secret key is rotated (the new one set, the old one
retired), every stored secret is sealed again with the new key, so the old one can go; a
secret that no configured key opens is named and the command fails."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from signer.sealing import SealBroken, Sealer
from tests.support import berth_cli

OLD, NEW, OTHER = "old-key-0123456789abcdef", "new-key-0123456789abcdef", "someone-elses-key-0123"


def stored_secret(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "berth.db") as db:
        return str(db.execute("SELECT access_secret FROM remote_registry").fetchone()[0])


def test_rotating_the_secret_key_keeps_every_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Given a registry whose password was sealed with the old key
    first = berth_cli(data, {"BERTH_SECRET_KEY": OLD}, "admin", "reseal")
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(data / "berth.db") as db:
        db.execute(
            "INSERT INTO remote_registry (name, url, type, description, credential_type,"
            " access_key, access_secret, insecure, ca_certificate, status,"
            " requests_per_second, created_at, updated_at) VALUES ('dr', 'http://dr:5000',"
            " 'harbor', '', 'basic', 'robot', ?, 0, '', 'unknown', 0, '2026-01-01',"
            " '2026-01-01')",
            (Sealer([OLD.encode()]).seal("the-password"),),
        )
    # When the key is rotated and the secrets sealed again
    rotated = {"BERTH_SECRET_KEY": NEW, "BERTH_RETIRED_SECRET_KEYS": json.dumps([OLD])}
    done = berth_cli(data, rotated, "admin", "reseal")
    assert done.returncode == 0, done.stderr
    assert "1 secret(s) sealed again" in done.stderr
    # Then the new key alone opens the password, and the old one no longer does
    value = stored_secret(data)
    assert Sealer([NEW.encode()]).unseal(value) == "the-password"
    try:
        Sealer([OLD.encode()]).unseal(value)
        raise AssertionError("the old key still opens the secret")
    except SealBroken:
        pass
    # And with a key that opens nothing, the command names the registry and fails
    lost = berth_cli(data, {"BERTH_SECRET_KEY": OTHER}, "admin", "reseal")
    assert lost.returncode == 1
    assert "no configured key opens the secret of registry dr" in lost.stderr


def test_a_signing_key_survives_the_rotation_of_the_secret_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from signer import keys

    data = tmp_path / "data"
    # Given a project whose signing key was sealed with the old key
    assert berth_cli(data, {"BERTH_SECRET_KEY": OLD}, "project", "create", "signed").returncode == 0
    exported = berth_cli(data, {"BERTH_SECRET_KEY": OLD}, "keys", "export", "signed")
    assert exported.returncode == 0, exported.stderr
    # When the secret key is rotated and everything sealed again
    rotated = {"BERTH_SECRET_KEY": NEW, "BERTH_RETIRED_SECRET_KEYS": json.dumps([OLD])}
    done = berth_cli(data, rotated, "admin", "reseal")
    assert done.returncode == 0 and "1 secret(s) sealed again" in done.stderr, done.stderr
    # Then the new key alone opens the signing key, which is the one exported before
    with sqlite3.connect(data / "berth.db") as db:
        sealed = str(db.execute("SELECT private_sealed FROM project_key").fetchone()[0])
    private = keys.load_private(Sealer([NEW.encode()]).unseal(sealed))
    public = serialization.load_pem_public_key(exported.stdout.encode())
    assert keys.key_id(private.public_key()) == keys.key_id(public)  # type: ignore[arg-type]
    # And the command line still exports it with the new key only
    again = berth_cli(data, {"BERTH_SECRET_KEY": NEW}, "keys", "export", "signed")
    assert again.stdout == exported.stdout
