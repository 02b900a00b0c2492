"""Database start-up and shutdown; the list of model modules lives here."""

from __future__ import annotations

from tortoise import Tortoise

MODEL_MODULES = ["models.registry"]


async def open_database(url: str, create_schema: bool = True) -> None:
    """Connect Tortoise to url (sqlite://PATH or postgres://...) and create missing tables."""
    # Global fallback: requests run in other tasks than the start-up hook that connects.
    await Tortoise.init(db_url=url, modules={"models": MODEL_MODULES}, _enable_global_fallback=True)
    if create_schema:
        await Tortoise.generate_schemas(safe=True)
    if url.startswith("sqlite"):
        conn = Tortoise.get_connection("default")
        # WAL lets readers run while a writer commits; NORMAL is durable across app crashes.
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")


async def close_database() -> None:
    await Tortoise.close_connections()
