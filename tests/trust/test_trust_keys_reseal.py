"""The keys Berth signs timestamps and snapshots with are sealed like every other secret:
after the secret key is rotated and `berth admin reseal` has run, a server holding only the
new key goes on signing a GUN's trust data with the same keys."""

from __future__ import annotations

import json
from pathlib import Path

from signer import tuf
from tests.support import berth_cli, running_berth
from tests.trust.support import Client, library_gun, new_repo

OLD, NEW = "old-trust-key-0123456789", "new-trust-key-0123456789"


def test_the_server_keys_of_trust_data_survive_the_rotation_of_the_secret_key(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    # Given trust data published while the old key sealed the server's keys
    with running_berth(data, {"BERTH_SECRET_KEY": OLD}) as server:
        gun = library_gun(server)
        client = Client(server, gun)
        repo = new_repo(server, client, gun)
        assert client.post({"root": repo.root(), "targets": repo.targets()}).status_code == 200
    # When the secret key is rotated and everything sealed again
    rotated = {"BERTH_SECRET_KEY": NEW, "BERTH_RETIRED_SECRET_KEYS": json.dumps([OLD])}
    done = berth_cli(data, rotated, "admin", "reseal")
    assert done.returncode == 0 and "2 secret(s) sealed again" in done.stderr, done.stderr
    # Then a server with the new key alone (on another port: the GUN keeps its first host
    # part, which names no rights) signs the next update with the same keys
    with running_berth(data, {"BERTH_SECRET_KEY": NEW}) as server:
        client = Client(server, gun)
        assert client.key("timestamp") == repo.timestamp
        repo.tags["v1"] = b"signed after the rotation"
        published = client.post({"targets": repo.targets()})
        assert published.status_code == 200, published.text
        stamp = tuf.load("timestamp", client.get("tuf/timestamp.json").content)
        assert repo.timestamp is not None
        tuf.check_signed(stamp, tuf.Role("timestamp", {repo.timestamp.id: repo.timestamp}, 1))
