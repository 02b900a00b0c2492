"""`berth keys`: a project's signing and trusted keys from the command line — list them,
rotate the signing key, export a public key as PEM, trust a key or root, remove one. Each
change goes through the same service as the REST API (audited as `berth-cli:<OS user>`,
every artifact of the project evaluated again)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ops.cli_common import DataDir, fail, operator, settings_or_exit, with_registry

if TYPE_CHECKING:
    from access.policy import Identity
    from core.service import Registry
    from services.rights import ProjectRef

keys_cli = typer.Typer(help="a project's signing keys and the keys it trusts", no_args_is_help=True)
Project = Annotated[str, typer.Argument(metavar="PROJECT", help="the project's name")]


class _Cli:
    """A Call (services.attempts) for the command line: the system admin, as the OS user."""

    host: str | None = None

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        self._body = body or {}

    async def caller(self) -> Identity:
        from access.policy import Identity

        # whoever runs it holds the database already, as `berth replicate`
        return Identity(username=operator(), sysadmin=True)

    async def body(self) -> dict[str, Any]:
        return self._body


def _ref(project: str) -> ProjectRef:
    from services.rights import ProjectRef

    return ProjectRef(project, True)


@keys_cli.command("list")
def list_keys(project: Project, data_dir: DataDir = None) -> None:
    """Every key of the project: id, kind, status, key id, name."""

    async def work(registry: Registry) -> list[str]:
        from core import signing_keys

        rows = await signing_keys.list_keys(await _scope(project))
        return [f"{k.id}\t{k.kind}\t{k.status}\t{k.key_id}\t{k.name}" for k in rows]

    for line in with_registry(settings_or_exit(data_dir=data_dir), work):
        print(line)  # tab-separated, for scripts: no rich rendering


@keys_cli.command("rotate")
def rotate(project: Project, data_dir: DataDir = None) -> None:
    """A new signing key; the former one stays trusted (retired) until removed."""

    async def work(registry: Registry) -> str:
        import services.signing_keys

        _begin()
        made = await services.signing_keys.rotate(_Cli(), _ref(project), registry.sealed())
        return f"{made.id}\t{made.key_id}"

    print(with_registry(settings_or_exit(data_dir=data_dir), work))


@keys_cli.command("export")
def export(
    project: Project,
    key: Annotated[
        int | None, typer.Option("--id", help="the key's id (default: the signing key)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """A public key as PEM: the active signing key's (made on first ask), or --id's."""

    async def work(registry: Registry) -> str:
        from core import signing_keys

        project_id = await _scope(project)
        if key is not None:
            return (await signing_keys.get_key(project_id, key)).public_pem
        active = await signing_keys.signing_key(project_id, registry.sealed())
        return (await signing_keys.get_key_by_id(project_id, active.key_id)).public_pem

    print(with_registry(settings_or_exit(data_dir=data_dir), work), end="")


@keys_cli.command("trust")
def trust(
    project: Project,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="a PEM public key or certificate")],
    kind: Annotated[str, typer.Option("--kind", help="cosign | notation-root")] = "cosign",
    name: Annotated[str, typer.Option("--name", help="a name to know it by")] = "",
    data_dir: DataDir = None,
) -> None:
    """Trust a cosign public key or a notation root for the project's signatures."""
    try:
        pem = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail([f"cannot read {file}: {exc}"], 2)

    async def work(registry: Registry) -> str:
        import services.signing_keys

        _begin()
        body = {"kind": kind, "name": name or file.name, "public_key": pem}
        made = await services.signing_keys.trust(_Cli(body), _ref(project))
        return f"{made.id}\t{made.key_id}"

    print(with_registry(settings_or_exit(data_dir=data_dir), work))


@keys_cli.command("untrust")
def untrust(
    project: Project,
    key: Annotated[int, typer.Argument(metavar="ID", help="the key's id (berth keys list)")],
    data_dir: DataDir = None,
) -> None:
    """Remove a trusted key or a retired signing key."""

    async def work(registry: Registry) -> str:
        import services.signing_keys

        _begin()
        await services.signing_keys.untrust(_Cli(), _ref(project), key)
        return f"key {key} removed"

    print(with_registry(settings_or_exit(data_dir=data_dir), work))


async def _scope(project: str) -> int:
    from core.projects import project_key
    from models.errors import NotFound

    found = await project_key(project, True)
    if found is None:
        raise NotFound(f"project {project} does not exist")
    return found[1]


def _begin() -> None:
    from core import audit

    audit.begin_request(None, "berth keys")
    audit.identify(operator())
