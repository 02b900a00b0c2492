"""What the content trust tests share: signing a tag as the Notary server records it (a
`trust_target` row: the contract between core/trust.py and the enforcement), switching a
project's enforcement, and reading the refused-pull counter."""

from __future__ import annotations

import re
import time

from tests.factories import OCI_MANIFEST, Answer, AppApi
from tests.support import InProcessBerth

CONTENT_TRUST = "enable_content_trust"
NOT_SIGNED = "The image is not signed in Notary."
SIGNED_DELETE = "the tag is signed in Notary: remove its signature first"
HOUR = 3600
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
GUN_HOST = "127.0.0.1:5000"  # the host part a GUN starts with; Berth's names drop it


async def sign(repository: str, tag: str, digest: str, expires_in: int = HOUR) -> int:
    """Record tag -> digest as signed in the repository's trust data (verified from root
    down, its chain expiring expires_in seconds from now; negative: expired); its expiry."""
    from models import TrustTarget

    expires = int(time.time()) + expires_in
    await TrustTarget.create(
        repository=repository,
        gun=f"{GUN_HOST}/{repository}",
        tag=tag,
        digest=digest,
        length=1234,
        role="targets",
        expires=expires,
    )
    return expires


async def unsign(repository: str, tag: str) -> None:
    """The signature of tag removed from the repository's trust data."""
    from models import TrustTarget

    await TrustTarget.filter(repository=repository, tag=tag).delete()


async def switch(berth: InProcessBerth, project: str, on: bool, name: str = CONTENT_TRUST) -> None:
    answer = await AppApi(berth).put(
        f"/projects/{project}", json={"metadata": {name: "true" if on else "false"}}
    )
    assert answer.status_code == 200, answer.text


async def pull(
    berth: InProcessBerth, repository: str, reference: str, method: str = "GET"
) -> Answer:
    """A manifest GET (or HEAD) through /v2, as the admin, taking images and indexes."""
    accept = f"{OCI_MANIFEST}, {OCI_INDEX}"
    return await AppApi(berth).request(
        method, f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
    )


async def refused_pulls(berth: InProcessBerth, policy: str) -> float:
    """berth_pulls_refused_unsigned_total{policy=...} as /metrics shows it now."""
    answer = await berth.client.get("/metrics")
    text = (await answer.get_data()).decode()
    found = re.search(
        rf'^berth_pulls_refused_unsigned_total\{{policy="{policy}"\}} (\S+)$', text, re.M
    )
    assert found, f"no refused-pull counter for {policy} in /metrics"
    return float(found.group(1))
