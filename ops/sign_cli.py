"""`berth sign IMAGE` and `berth verify IMAGE`: sign an artifact with its project's key, or
print every signature Berth holds over it and the verdict on each, from the command line.

IMAGE is PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST, as Berth names it (no host).
`verify` exits 0 when the artifact is verified (or is itself an accessory), 1 when not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli_common import DataDir, fail, out, settings_or_exit, with_registry

if TYPE_CHECKING:
    from core.service import Registry

Image = Annotated[str, typer.Argument(metavar="IMAGE", help="PROJECT/REPOSITORY:TAG or @DIGEST")]
Identity = Annotated[
    str | None,
    typer.Option("--identity", help="the docker-reference to sign (default: listen address/IMAGE)"),
]


def sign(image: Image, identity: Identity = None, data_dir: DataDir = None) -> None:
    """Sign IMAGE with its project's signing key (made on first use); prints the signature
    image's digest, or says the key had signed it already."""
    settings = settings_or_exit(data_dir=data_dir)
    repository, reference = split_image(image)

    async def work(registry: Registry) -> str:
        from core import signing

        digest = await resolve(registry, repository, reference)
        named = identity or signing.identity_of(settings.listen, repository, reference)
        signed = await signing.sign(registry, repository, digest, named)
        if signed.signature_manifest is None:
            return f"{repository}@{digest} is signed by {signed.key_id} already"
        return f"signed {repository}@{digest} with {signed.key_id}: {signed.signature_manifest}"

    out.print(with_registry(settings, work), markup=False)


def verify(image: Image, data_dir: DataDir = None) -> None:
    """Print each signature over IMAGE with its format, key and verdict; exit 0 when the
    artifact is verified, 1 when not."""
    settings = settings_or_exit(data_dir=data_dir)
    repository, reference = split_image(image)

    async def work(registry: Registry) -> tuple[list[str], bool]:
        from core import signatures

        digest = await resolve(registry, repository, reference)
        repo_id = (await registry.manifests.get(repository, digest)).repository_id
        trust = await signatures.evaluate(registry.blobs, repo_id, digest)
        lines = [
            f"{v.format}\t{v.signature_digest}\tlayer {v.layer}\t{v.key_id or '-'}\t{v.status}"
            + (f"\t{v.reason}" if v.reason else "")
            for v in await signatures.verdicts_of(repo_id, digest)
        ]
        verdict = trust.state + (f": {trust.reason}" if trust.reason else "")
        lines.append(f"{repository}@{digest}: {verdict}")
        return lines, trust.state in signatures.SERVED

    lines, ok = with_registry(settings, work)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if ok else 1)


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of PROJECT/REPOSITORY:TAG or @DIGEST; one line and exit
    2 for anything else."""
    if "@" in image:
        repository, _, reference = image.partition("@")
    else:
        repository, _, reference = image.rpartition(":")
        if "/" in reference or not repository:
            repository, reference = image, "latest"
    if "/" not in repository or not reference:
        fail(
            [f"IMAGE must be PROJECT/REPOSITORY:TAG or PROJECT/REPOSITORY@DIGEST, got {image!r}"], 2
        )
    return repository, reference


async def resolve(registry: Registry, repository: str, reference: str) -> str:
    """The digest a tag or digest names; NameUnknown or ManifestUnknown (one line, exit 1)."""
    return (await registry.manifests.get(repository, reference)).digest
