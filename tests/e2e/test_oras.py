"""ORAS artifacts in Berth, and the OCI 1.1 referrers API that links them to a subject."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import oras.client
import oras.oci
import pytest

from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"
REPO = "library/art"

admin = httpx.Client(auth=ADMIN, timeout=60)  # the test admin's Basic credentials


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    """A manifest in Berth, with the answer to the PUT that stored it."""

    digest: str
    size: int
    put_status: int = 0
    put_headers: httpx.Headers = field(default_factory=httpx.Headers)


def fetch_manifest(registry: RunningBerth, reference: str) -> bytes:
    url = f"{registry.url}/v2/{REPO}/manifests/{reference}"
    response = admin.get(url, headers={"Accept": OCI_MANIFEST})
    assert response.status_code == 200, response.text
    return response.content


def upload_blob(registry: RunningBerth, content: bytes) -> str:
    """POST + PUT monolithic upload, the way every client can."""
    started = admin.post(f"{registry.url}/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(registry.url).join(started.headers["Location"])
    digest = sha256(content)
    done = admin.put(
        location.copy_merge_params({"digest": digest}),
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    return digest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oras")


@pytest.fixture(scope="module")
def client(registry: RunningBerth) -> oras.client.OrasClient:
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    client.login(
        *ADMIN,
        hostname=registry.host,
        tls_verify=False,
        config_path=str(Path(registry.data_dir) / "oras-config.json"),
    )
    return client


@pytest.fixture(scope="module")
def readme(workdir: Path) -> Path:
    path = workdir / "README.md"
    path.write_text(f"# berth e2e artifact\n{os.urandom(16).hex()}\n")
    return path


@pytest.fixture(scope="module")
def subject(client: oras.client.OrasClient, registry: RunningBerth, readme: Path) -> Pushed:
    """library/art:v1, an artifact of one file, pushed with oras."""
    client.push(
        target=f"{registry.host}/{REPO}:v1", files=[str(readme)], disable_path_validation=True
    )
    manifest = fetch_manifest(registry, "v1")
    return Pushed(sha256(manifest), len(manifest))


@pytest.fixture(scope="module")
def sbom(
    client: oras.client.OrasClient, registry: RunningBerth, subject: Pushed, workdir: Path
) -> Pushed:
    """An SBOM attached to the subject by oras; its type comes from its config's media type."""
    (workdir / "sbom.json").write_text('{"packages": ["busybox"]}')
    (workdir / "sbom-config.json").write_text('{"generator": "berth-e2e"}')
    put = client.push(
        target=f"{registry.host}/{REPO}:sbom",
        files=[str(workdir / "sbom.json")],
        manifest_config=f"{workdir / 'sbom-config.json'}:{SBOM_TYPE}",
        subject=oras.oci.Subject(OCI_MANIFEST, subject.digest, subject.size),
        disable_path_validation=True,
    )
    manifest = fetch_manifest(registry, "sbom")
    return Pushed(
        sha256(manifest), len(manifest), put.status_code, httpx.Headers(dict(put.headers))
    )


@pytest.fixture(scope="module")
def signature(registry: RunningBerth, subject: Pushed) -> Pushed:
    """A signature attached by digest only, in the OCI 1.1 form: artifactType + empty config."""
    assert upload_blob(registry, b"{}") == EMPTY_DIGEST
    payload = b"not really a signature"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_TYPE,
            "config": {"mediaType": EMPTY_CONFIG, "digest": EMPTY_DIGEST, "size": 2},
            "layers": [
                {
                    "mediaType": "application/octet-stream",
                    "digest": upload_blob(registry, payload),
                    "size": len(payload),
                }
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": subject.size},
            "annotations": {"org.example.signed-by": "berth-e2e"},
        }
    ).encode()
    put = admin.put(
        f"{registry.url}/v2/{REPO}/manifests/{sha256(manifest)}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    return Pushed(sha256(manifest), len(manifest), put.status_code, put.headers)


def referrers(registry: RunningBerth, digest: str, **params: str) -> httpx.Response:
    response = admin.get(f"{registry.url}/v2/{REPO}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    return response


def test_artifact_pulls_back_identical(
    client: oras.client.OrasClient,
    registry: RunningBerth,
    subject: Pushed,
    readme: Path,
    tmp_path: Path,
) -> None:
    # Given an artifact pushed with oras (the subject fixture)
    # When oras pulls it into an empty directory
    files = client.pull(target=f"{registry.host}/{REPO}:v1", outdir=str(tmp_path))

    # Then the file comes back under its name, byte for byte
    assert [Path(f).name for f in files] == ["README.md"]
    assert (tmp_path / "README.md").read_bytes() == readme.read_bytes()


@pytest.mark.parametrize("attached", ["sbom", "signature"])
def test_pushing_a_referrer_answers_oci_subject(
    request: pytest.FixtureRequest, subject: Pushed, attached: str
) -> None:
    # Given / When a manifest with a subject is pushed (by oras, or by hand)
    pushed: Pushed = request.getfixturevalue(attached)

    # Then Berth stores it and says which subject it recorded
    assert pushed.put_status == 201
    assert pushed.put_headers.get("OCI-Subject") == subject.digest


def test_referrers_lists_every_attached_artifact(
    registry: RunningBerth, subject: Pushed, sbom: Pushed, signature: Pushed
) -> None:
    # Given an SBOM and a signature attached to one subject
    # When a client asks for the subject's referrers
    index = referrers(registry, subject.digest).json()

    # Then both come back as descriptors with their artifact types (and annotations)
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {sbom.digest, signature.digest}
    assert by_digest[sbom.digest]["artifactType"] == SBOM_TYPE  # taken from config.mediaType
    assert by_digest[sbom.digest]["size"] == sbom.size
    assert by_digest[signature.digest]["artifactType"] == SIGNATURE_TYPE
    assert by_digest[signature.digest]["size"] == signature.size
    assert by_digest[signature.digest]["annotations"] == {"org.example.signed-by": "berth-e2e"}
    assert {m["mediaType"] for m in index["manifests"]} == {OCI_MANIFEST}


def test_referrers_filtered_by_artifact_type(
    registry: RunningBerth, subject: Pushed, sbom: Pushed, signature: Pushed
) -> None:
    # Given an SBOM and a signature attached to one subject
    # When a client asks only for signatures
    response = referrers(registry, subject.digest, artifactType=SIGNATURE_TYPE)

    # Then only the signature is listed, and Berth says it applied the filter
    assert [m["digest"] for m in response.json()["manifests"]] == [signature.digest]
    assert response.headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_of_a_digest_with_none_is_an_empty_index(registry: RunningBerth) -> None:
    # Given a digest nothing refers to (nor exists)
    digest = sha256(os.urandom(32))

    # When its referrers are listed
    index = referrers(registry, digest).json()

    # Then the answer is an empty index, not an error
    assert index["manifests"] == []


def test_referrer_pulls_by_digest(
    client: oras.client.OrasClient, registry: RunningBerth, sbom: Pushed, tmp_path: Path
) -> None:
    # Given an SBOM found through the referrers API (by digest)
    # When oras pulls it by that digest
    files = client.pull(target=f"{registry.host}/{REPO}@{sbom.digest}", outdir=str(tmp_path))

    # Then the SBOM file comes back
    assert [Path(f).name for f in files] == ["sbom.json"]
    assert json.loads((tmp_path / "sbom.json").read_text()) == {"packages": ["busybox"]}
