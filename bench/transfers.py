"""Big-blob push and pull through two streaming clients: httpx and curl.

The run measures both against the first registry and uses the faster one of
each kind (monolithic push, chunked push, pull) for both registries, so that
the client is not what limits the figure. With `auth`, every push request
carries Basic credentials; the pull stays anonymous (the public pull path).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin

import httpx

from bench.blobdata import PIECE, BigBlob
from bench.oci import RegistryClient, StepFailed, path_of, with_query

OCTET = {"Content-Type": "application/octet-stream"}
Credentials = tuple[str, str]


class Transfer(Protocol):
    """One client able to move a big blob; each method raises StepFailed on a bad answer."""

    name: str

    def mono_push(self, repo: str, blob: BigBlob) -> None: ...

    def chunked_push(self, repo: str, blob: BigBlob, chunk: int) -> None: ...

    def pull(self, repo: str, digest: str) -> int: ...

    def close(self) -> None: ...


def _check(resp: httpx.Response, what: str, ok: int) -> None:
    if resp.status_code != ok:
        body = resp.read().decode("utf-8", "replace")
        raise StepFailed(what, resp.request.method, str(resp.request.url), resp.status_code, body)


class HttpxTransfer:
    """httpx on one keep-alive connection; bodies are generators of 1 MiB file pieces."""

    name = "httpx"

    def __init__(self, base: str, auth: Credentials | None = None) -> None:
        self.client = httpx.Client(
            base_url=base, timeout=httpx.Timeout(600.0), follow_redirects=True
        )
        # Per push request rather than on the client, so the pull stays anonymous;
        # httpx.Auth() is the no-op for a registry without accounts.
        self._auth: httpx.Auth = httpx.BasicAuth(*auth) if auth else httpx.Auth()

    def _start(self, repo: str) -> str:
        resp = self.client.post(
            f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}, auth=self._auth
        )
        _check(resp, "start upload", 202)
        return urljoin(str(resp.url), resp.headers["Location"])

    def mono_push(self, repo: str, blob: BigBlob) -> None:
        url = with_query(self._start(repo), "digest", blob.digest)
        headers = {**OCTET, "Content-Length": str(blob.size)}
        resp = self.client.put(url, content=blob.pieces(), headers=headers, auth=self._auth)
        _check(resp, "monolithic PUT", 201)

    def chunked_push(self, repo: str, blob: BigBlob, chunk: int) -> None:
        url, offset = self._start(repo), 0
        while offset < blob.size:
            length = min(chunk, blob.size - offset)
            headers = {
                **OCTET,
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            }
            resp = self.client.patch(
                url, content=blob.pieces(offset, length), headers=headers, auth=self._auth
            )
            _check(resp, f"PATCH chunk at {offset}", 202)
            url = urljoin(url, resp.headers["Location"])
            offset += length
        final = with_query(url, "digest", blob.digest)
        resp = self.client.put(final, headers={"Content-Length": "0"}, auth=self._auth)
        _check(resp, "closing PUT", 201)

    def pull(self, repo: str, digest: str) -> int:
        with self.client.stream("GET", f"/v2/{repo}/blobs/{digest}") as resp:
            _check(resp, "blob GET", 200)
            return sum(len(piece) for piece in resp.iter_raw(PIECE))

    def close(self) -> None:
        self.client.close()


class CurlTransfer:
    """One curl process per big request (`-T file`, `--data-binary @-`, `-o /dev/null`).

    The small POST and closing PUT go through http.client; they are timed too.
    """

    name = "curl"

    def __init__(self, base: str, auth: Credentials | None = None) -> None:
        self.base = base
        self.api = RegistryClient(base, auth=auth)
        self.user = ["-u", ":".join(auth)] if auth else []
        self._body = Path(tempfile.mkstemp(prefix="bench-curl-body-")[1])

    def _curl(
        self,
        what: str,
        method: str,
        url: str,
        args: list[str],
        stdin: bytes | None = None,
        ok: int = 201,
    ) -> str:
        cmd = [
            "curl",
            "-sS",
            "--http1.1",
            "-H",
            "Expect:",
            "-X",
            method,
            "-D",
            "-",
            "-o",
            str(self._body),
            "-w",
            "\n%{http_code}",
            *self.user,
            *args,
            url,
        ]
        out = subprocess.run(cmd, input=stdin, capture_output=True, timeout=600, check=False)
        text = out.stdout.decode("latin-1")
        status = text.rsplit("\n", 1)[-1].strip()
        if out.returncode != 0 or status != str(ok):
            body = self._body.read_text(errors="replace") or out.stderr.decode(errors="replace")
            raise StepFailed(what, method, url, status or f"curl exit {out.returncode}", body)
        return text

    def mono_push(self, repo: str, blob: BigBlob) -> None:
        url = self.base + with_query(self.api.start_upload(repo), "digest", blob.digest)
        self._curl(
            "monolithic PUT",
            "PUT",
            url,
            ["-H", "Content-Type: application/octet-stream", "-T", str(blob.path)],
        )

    def chunked_push(self, repo: str, blob: BigBlob, chunk: int) -> None:
        path, offset = self.api.start_upload(repo), 0
        while offset < blob.size:
            length = min(chunk, blob.size - offset)
            args = [
                "-H",
                "Content-Type: application/octet-stream",
                "-H",
                f"Content-Range: {offset}-{offset + length - 1}",
                "--data-binary",
                "@-",
            ]
            headers = self._curl(
                f"PATCH chunk at {offset}",
                "PATCH",
                self.base + path,
                args,
                stdin=blob.read(offset, length),
                ok=202,
            )
            path = path_of(self.base + "/", _location(headers))
            offset += length
        self.api.expect("closing PUT", "PUT", with_query(path, "digest", blob.digest), (201,))

    def pull(self, repo: str, digest: str) -> int:
        url = f"{self.base}/v2/{repo}/blobs/{digest}"
        cmd = ["curl", "-sS", "-L", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]
        out = subprocess.run(cmd, capture_output=True, timeout=600, check=False, text=True)
        status, _, size = out.stdout.partition(" ")
        if out.returncode != 0 or status != "200":
            raise StepFailed(
                "blob GET", "GET", url, status or f"curl exit {out.returncode}", out.stderr
            )
        return int(size)

    def close(self) -> None:
        self.api.close()
        self._body.unlink(missing_ok=True)


def _location(headers: str) -> str:
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "location":
            return value.strip()
    raise StepFailed("PATCH chunk", "PATCH", "", 202, "no Location header")


CLIENTS: dict[str, type[HttpxTransfer] | type[CurlTransfer]] = {
    "httpx": HttpxTransfer,
    "curl": CurlTransfer,
}
