"""A real, private OpenLDAP server (slapd) with users and groups, Berth servers using it, and
what the LDAP tests ask of them. The fixtures are in conftest.py.

Directory (suffix dc=berth,dc=test):
  users:  alice (developers), bob (backend, itself a member of engineering: nested),
          carol (admins), dave (no group), erin (developers; for the directory-down test)
  groups: developers, backend, engineering (member: backend), admins
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import factories
from tests.support import ADMIN, RunningBerth, free_port, require_tool, running_berth_with

SUFFIX = "dc=berth,dc=test"
ROOT_DN, ROOT_PW = f"cn=admin,{SUFFIX}", "directory-secret"
USERS_DN, GROUPS_DN = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
PASSWORDS = {
    "alice": "Alice-Pass-1",
    "bob": "Bob-Pass-1",
    "carol": "Carol-Pass-1",
    "dave": "Dave-Pass-1",
    "erin": "Erin-Pass-1",
    "frank": "Frank-Pass-1",
}
GROUPS = {  # group -> members (user names or other groups)
    "developers": ["user:alice", "user:erin"],
    "backend": ["user:bob"],
    "engineering": ["group:backend"],
    "admins": ["user:carol"],
    "qa": ["user:nobody"],  # frank is in qa only by his own seeAlso (AD's memberOf style)
    "qa-leads": ["user:nobody"],  # and qa in qa-leads by qa's seeAlso
}
# Membership listed on the member's own entry, as Active Directory's memberOf does.
LISTED_ON_MEMBER = {"user:frank": "qa", "group:qa": "qa-leads"}


def user_dn(name: str) -> str:
    return f"uid={name},{USERS_DN}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS_DN}"


CONFIG_LDIF = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {dir}/data
olcDbMaxSize: 16777216
olcSuffix: {suffix}
olcRootDN: {root_dn}
olcRootPW: {root_pw}
olcAccess: to attrs=userPassword by anonymous auth by * none
olcAccess: to * by * read
"""


def base_ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: berth\no: Berth",
        f"dn: {USERS_DN}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for name, password in PASSWORDS.items():
        entries.append(
            f"dn: {user_dn(name)}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name.title()}"
            f"\nsn: {name.title()}\nmail: {name}@berth.test\nuserPassword: {password}"
            + _listed(f"user:{name}")
        )
    for group, members in GROUPS.items():
        lines = [f"dn: {group_dn(group)}", "objectClass: groupOfNames", f"cn: {group}"]
        for member in members:
            kind, _, name = member.partition(":")
            lines.append(f"member: {user_dn(name) if kind == 'user' else group_dn(name)}")
        entries.append("\n".join(lines) + _listed(f"group:{group}"))
    return "\n\n".join(entries) + "\n"


def _listed(member: str) -> str:
    group = LISTED_ON_MEMBER.get(member)
    return f"\nseeAlso: {group_dn(group)}" if group else ""


@dataclass
class Slapd:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_slapd(workdir: Path) -> Slapd:
    """Build cn=config and the data with slapadd, then run slapd on a free loopback port."""
    slapd = require_tool("slapd")
    slapadd = require_tool("slapadd")
    confdir, datadir = workdir / "slapd.d", workdir / "data"
    confdir.mkdir(parents=True)
    datadir.mkdir()
    config = workdir / "config.ldif"
    config.write_text(
        CONFIG_LDIF.format(dir=workdir, suffix=SUFFIX, root_dn=ROOT_DN, root_pw=ROOT_PW)
    )
    (workdir / "base.ldif").write_text(base_ldif())
    for args in (["-n0", "-l", str(config)], ["-n1", "-l", str(workdir / "base.ldif")]):
        subprocess.run([slapadd, *args, "-F", str(confdir)], check=True, capture_output=True)
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = (workdir / "slapd.log").open("wb")
    # -d 0 keeps slapd in the foreground, so its PID is ours to stop.
    cmd = [slapd, "-d", "0", "-h", f"{url}/", "-F", str(confdir)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    _wait_port(port, proc)
    return Slapd(url, proc)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"slapd exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("slapd did not listen within 15s")


def ldap_config(url: str) -> dict[str, object]:
    """The configuration that points Berth at a test directory."""
    return {
        "auth_mode": "ldap_auth",
        "ldap_url": url,
        "ldap_search_dn": ROOT_DN,
        "ldap_search_password": ROOT_PW,
        "ldap_base_dn": USERS_DN,
        "ldap_filter": "(objectClass=inetOrgPerson)",
        "ldap_uid": "uid",
        "ldap_scope": 2,
        "ldap_group_base_dn": GROUPS_DN,
        "ldap_group_search_filter": "(objectClass=groupOfNames)",
        "ldap_group_membership_attribute": "member",
        "ldap_group_admin_dn": group_dn("admins"),
        "ldap_group_search_scope": 2,
    }


@contextmanager
def berth_on(backend: str, data_dir: Path) -> Iterator[RunningBerth]:
    """A Berth server on an empty database (only admin and library) of a backend.

    Two server processes: a setting changed through one must apply in the other at once.
    """
    with running_berth_with(backend, data_dir, {"BERTH_WORKERS": "2"}) as server:
        yield server


def configure(server: RunningBerth, settings: dict[str, object]) -> httpx.Response:
    return httpx.put(f"{server.url}/api/v2.0/configurations", json=settings, auth=ADMIN)


def token_status(server: RunningBerth, user: str, password: str) -> int:
    """Status of a registry-token request with Basic credentials."""
    response = httpx.get(
        f"{server.url}/service/token",
        params={"service": "berth", "scope": "repository:library/x:pull"},
        auth=(user, password),
    )
    return response.status_code


def granted(server: RunningBerth, user: str, repository: str) -> list[str]:
    """The actions a registry token grants user on repository (pull, push, delete asked)."""
    scope = f"repository:{repository}:pull,push,delete"
    return factories.granted(server, (user, PASSWORDS[user]), scope)
