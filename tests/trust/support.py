"""What the trust API tests share: a token for a GUN, one caller's client of its trust
API, and a new repository whose owner holds the server's keys."""

from __future__ import annotations

from typing import Any

import httpx

from signer import tuf
from tests.factories import ADMIN, unique
from tests.support import RunningBerth
from tests.trust import tufmaker
from tests.trust.tufmaker import Repo


def token(server: RunningBerth, auth: Any, gun: str, actions: str = "pull,push,*") -> str:
    answer = httpx.get(
        f"{server.url}/service/token",
        params={"service": "berth-notary", "scope": f"repository:{gun}:{actions}"},
        auth=auth,
        timeout=30,
        verify=server.verify,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


class Client:
    """One caller's view of a GUN's trust API, with a token for it."""

    def __init__(
        self, server: RunningBerth, gun: str, auth: Any = ADMIN, actions: str = ""
    ) -> None:
        self.base = f"{server.url}/v2/{gun}/_trust"
        headers = {}
        if auth is not None:
            headers["Authorization"] = (
                f"Bearer {token(server, auth, gun, actions or 'pull,push,*')}"
            )
        self.http = httpx.Client(headers=headers, timeout=30, verify=server.verify)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(f"{self.base}/{path}")

    def key(self, role: str) -> tuf.PublicKey:
        answer = self.get(f"tuf/{role}.key")
        assert answer.status_code == 200, answer.text
        return tuf.parse_key(answer.json())

    def post(self, parts: dict[str, bytes]) -> httpx.Response:
        body, content_type = tufmaker.multipart(parts)
        return self.http.post(
            f"{self.base}/tuf/", content=body, headers={"Content-Type": content_type}
        )


def code_of(answer: httpx.Response) -> str:
    return str(answer.json()["errors"][0]["code"])


def new_repo(server: RunningBerth, client: Client, gun: str) -> Repo:
    repo = Repo(gun)
    repo.timestamp, repo.snapshot = client.key("timestamp"), client.key("snapshot")
    return repo


def library_gun(server: RunningBerth) -> str:
    return f"{server.host}/library/{unique('trust')}"
