"""`berth admin`: recover the system administrator's account."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from core.sealed import Resealed
    from core.service import Registry

from ops.cli_common import DataDir, console, fail, operator, settings_or_exit, with_registry

admin_cli = typer.Typer(
    help="The system administrator's account; the secret key.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
ADMIN = "admin"


@admin_cli.command("reset-password")
def reset_password(
    password: Annotated[
        str | None,
        typer.Option(
            metavar="P",
            help="the new password (the password policy applies); generated and printed if"
            " not given",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Set admin's password and lift its login throttle; a running server applies it at once."""
    from access.errors import PasswordPolicyViolation
    from access.passwords import check_password_policy

    chosen = password if password is not None else secrets.token_urlsafe(12) + "A1"
    try:
        check_password_policy(chosen)
    except PasswordPolicyViolation as exc:
        fail([f"--password: {exc}"], 2)
    settings = settings_or_exit(data_dir=data_dir)
    with_registry(settings, lambda _registry: _write(chosen))
    if password is None:
        console.print(f"the system administrator is admin with password {chosen}", markup=False)
    else:
        console.print("the password of admin is changed", markup=False)


async def _write(password: str) -> None:
    """One UPDATE through the database, with its audit event: every server process (and
    replica) sees it, and their remembered logins check the password hash before each use."""
    import services.users
    from access.accounts import AccountService
    from access.users import UserService
    from core import audit

    audit.begin_request(None, "berth admin reset-password")
    audit.identify(operator())
    await services.users.reset_password(AccountService(UserService()), ADMIN, password)


@admin_cli.command("reseal")
def reseal(data_dir: DataDir = None) -> None:
    """Seal every stored secret again with the current secret key (after BERTH_SECRET_KEY
    changed and the old one went to BERTH_RETIRED_SECRET_KEYS); then the old one may go."""
    settings = settings_or_exit(data_dir=data_dir)
    done = with_registry(settings, _reseal)
    console.print(f"{done.count} secret(s) sealed again with the current key", markup=False)
    if done.unreadable:
        fail([f"no configured key opens the secret of {name}" for name in done.unreadable], 1)


async def _reseal(registry: Registry) -> Resealed:
    from core import audit
    from core.sealed import reseal_all

    audit.begin_request(None, "berth admin reseal")
    audit.identify(operator())
    return await reseal_all(registry.sealed())
