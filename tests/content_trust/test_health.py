"""The trust component of Harbor's /api/v2.0/health: healthy while the content trust tables
answer (the signed tags the pull path reads, the trust data Notary serves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise

from tests.support import InProcessBerth, berth_app


async def trust_component(berth: InProcessBerth) -> dict[str, Any]:
    answer = await berth.client.get("/api/v2.0/health")
    assert answer.status_code == 200
    body = await answer.get_json()
    return dict(next(c for c in body["components"] if c["name"] == "notary"))


async def test_trust_is_healthy_while_its_tables_answer(in_process: InProcessBerth) -> None:
    # When anybody asks a running registry for its health
    trust = await trust_component(in_process)
    # Then the trust component is there, healthy
    assert trust == {"name": "notary", "status": "healthy"}


async def test_trust_is_unhealthy_when_its_tables_do_not_answer(tmp_path: Path) -> None:
    # Given a registry whose signed-tags table is gone
    async with berth_app(tmp_path) as berth:
        await Tortoise.get_connection("default").execute_script("DROP TABLE trust_target")
        # When anybody asks for its health
        trust = await trust_component(berth)
    # Then the trust component is unhealthy, naming the table
    assert trust["status"] == "unhealthy"
    assert "trust_target" in trust["error"]
