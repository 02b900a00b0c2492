"""`berth sign` and `berth verify` as an operator runs them, beside a running server on the
same data folder: a signature made from the command line is served and verified by the
server, and `verify` prints each signature with its verdict."""

from __future__ import annotations

from pathlib import Path

from tests.factories import new_project, pull_manifest, push_image
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
