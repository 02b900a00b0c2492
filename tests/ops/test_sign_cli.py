"""`berth sign` and `berth verify` as an operator runs them, beside a running server on the
same data folder: a signature made from the command line is served and verified by the
server, and `verify` prints each signature with its verdict."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.factories import caller, new_project, pull_manifest, push_image
from tests.ops.support import run_berth
from tests.signing.test_enforcement import ENFORCE, set_metadata
from tests.support import assert_log_clean, running_berth


def test_sign_then_verify_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_berth(data) as server:
        # Given a project that serves only signed artifacts, with two images in it
        _, project = new_project(server, prefix="cli")
        signed, unsigned = f"{project}/signed", f"{project}/unsigned"
        digest = push_image(server, signed, "v1")
        push_image(server, unsigned, "v1")
        set_metadata(server, project, ENFORCE)
        # When the operator signs one, twice
        first = run_berth(tmp_path, "sign", f"{signed}:v1", "--data-dir", str(data))
        again = run_berth(tmp_path, "sign", f"{signed}@{digest}", "--data-dir", str(data))
        # Then it is signed once, with the project's key, and the server serves it
        assert first.returncode == 0, first.stderr
        assert f"signed {signed}@{digest} with sha256:" in first.stdout
        assert again.returncode == 0 and "already" in again.stdout
        assert pull_manifest(server, signed, "v1").status_code == 200
        assert pull_manifest(server, unsigned, "v1").status_code == 412
        # And verify prints the signature and its verdict, exit 0; the other, exit 1
        good = run_berth(tmp_path, "verify", f"{signed}:v1", "--data-dir", str(data))
        bad = run_berth(tmp_path, "verify", f"{unsigned}:v1", "--data-dir", str(data))
        assert good.returncode == 0, good.stdout + good.stderr
        assert "cosign" in good.stdout and "verified" in good.stdout
        assert bad.returncode == 1 and "not signed" in bad.stdout
        # And a name that is no image is one line, exit 2; an unknown one exit 1
        wrong = run_berth(tmp_path, "sign", "nothing", "--data-dir", str(data))
        missing = run_berth(tmp_path, "verify", f"{project}/none:v1", "--data-dir", str(data))
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
        assert missing.returncode == 1 and "berth:" in missing.stderr
    assert_log_clean(server.log)


def test_berth_keys_lists_rotates_exports_trusts_and_untrusts(tmp_path: Path) -> None:
    from tests.signing import makers

    data = tmp_path / "data"
    with running_berth(data) as server:
        _, project = new_project(server, prefix="keys")

        def keys(*args: str) -> subprocess.CompletedProcess[str]:
            return run_berth(tmp_path, "keys", *args, "--data-dir", str(data))

        # When the operator exports the signing key, rotates it, and trusts a key file
        exported = keys("export", project)
        rotated = keys("rotate", project)
        pem = tmp_path / "ci.pub"
        pem.write_text(makers.public_pem(makers.new_key()))
        trusted = keys("trust", project, str(pem), "--kind", "cosign", "--name", "ci")
        listed = keys("list", project)
        # Then the list shows the retired key, the new active one and the trusted one
        assert exported.returncode == 0 and exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")
        assert rotated.returncode == 0 and trusted.returncode == 0, rotated.stderr + trusted.stderr
        statuses = [line.split("\t")[1:3] for line in listed.stdout.splitlines()]
        assert statuses == [["signing", "retired"], ["signing", "active"], ["cosign", "trusted"]]
        # And the server serves the same key list
        with caller(server, "admin") as admin:
            served = admin.get(f"/api/v2.0/projects/{project}/keys").json()
        assert [k["status"] for k in served] == ["retired", "active", "trusted"]
        # And removing the trusted key works; removing the active one is refused, one line
        trusted_id = trusted.stdout.split("\t")[0]
        active_id = listed.stdout.splitlines()[1].split("\t")[0]
        assert keys("untrust", project, trusted_id).returncode == 0
        refused = keys("untrust", project, active_id)
        assert refused.returncode != 0 and "rotate" in refused.stderr
        assert keys("trust", project, str(tmp_path / "missing.pem")).returncode == 2
    assert_log_clean(server.log)
