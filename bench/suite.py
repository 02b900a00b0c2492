"""The measurements, run in order against one started registry."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bench.blobdata import BigBlob
from bench.loadgen import check_get, make_images, push_images, run_wrk
from bench.oci import OCI_MANIFEST, RegistryClient, StepFailed, config_blob, image_manifest
from bench.profiler import PySpyRecording, hot_spots, project_files
from bench.report import RegistryResult
from bench.servers import RssSampler, Server
from bench.transfers import CLIENTS, Transfer

REPO = "library/bench"
TAG = "bench"
CHUNK = 16 << 20
KINDS = ("monolithic push", "chunked push", "pull")
PROJECT = project_files(Path(__file__).resolve().parent.parent)


@dataclass
class Settings:
    size: int
    repeats: int
    pull_repeats: int  # pulls take a fraction of a second and vary more, so more of them
    wrk_seconds: int
    images: int
    clients: dict[str, str] = field(default_factory=dict)  # kind -> client name, once calibrated
    calibration: list[str] = field(default_factory=list)
    py_spy: str | None = None  # set with --profile: sample Berth during each measured step
    profile_dir: Path | None = None


class Suite:
    """Runs every step against `server`; a failed step is recorded and the next one runs."""

    def __init__(
        self, server: Server, blob: BigBlob, settings: Settings, result: RegistryResult
    ) -> None:
        self.server = server
        self.blob = blob
        self.settings = settings
        self.result = result
        self.blob4k = ""
        self.pulled = ""

    def run(self) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("seed manifest and 4 KiB blob", self.seed),
            ("choose clients", self.calibrate),
            ("monolithic push", self.mono_push),
            ("chunked push", self.chunked_push),
            ("pull", self.pull),
            ("manifest GET (wrk)", self.manifest_get),
            ("4 KiB blob GET (wrk)", self.blob_get),
            ("small image pushes", self.small_images),
        ]
        for name, step in steps:
            if self.server.proc is not None and self.server.proc.poll() is not None:
                self.result.failures.append(
                    f"{name}: skipped, server exited with {self.server.proc.returncode}"
                )
                continue
            print(f"  [{self.server.label}] {name} ...", flush=True)
            try:
                with self._profiled(name):
                    step()
            except StepFailed as err:
                self.result.failures.append(f"{name}: {err}")
                print(f"    FAILED: {err}", flush=True)
            except Exception as err:  # noqa: BLE001 - a benchmark step must not stop the run
                self.result.failures.append(f"{name}: {type(err).__name__}: {err}")
                traceback.print_exc()

    def _profiled(self, step: str) -> AbstractContextManager[object]:
        cfg = self.settings
        unmeasured = step.startswith(("seed", "choose"))
        if not (cfg.py_spy and cfg.profile_dir and self.server.proc) or unmeasured:
            return nullcontext()
        slug = "".join(c if c.isalnum() else "-" for c in step.lower()).strip("-")
        out = cfg.profile_dir / f"{self.server.label.lower()}-{slug}.txt"
        return _Profile(PySpyRecording(cfg.py_spy, self.server.proc.pid, out))

    def seed(self) -> None:
        client = RegistryClient(self.server.base, auth=self.server.push_auth)
        try:
            layer = os.urandom(2048)
            config = config_blob("bench-fixture")
            client.push_blob(REPO, config)
            client.push_blob(REPO, layer)
            client.push_manifest(REPO, TAG, image_manifest(config, [layer]))
            self.blob4k = client.push_blob(REPO, os.urandom(4096))
        finally:
            client.close()

    def _transfer(self, client: Transfer, kind: str) -> float:
        """One timed transfer of the big blob; returns MB/s."""
        if kind != "pull":
            self.blob.new_variant()
        os.sync()
        start = time.perf_counter()
        if kind == "monolithic push":
            client.mono_push(REPO, self.blob)
        elif kind == "chunked push":
            client.chunked_push(REPO, self.blob, CHUNK)
        else:
            got = client.pull(REPO, self.pulled)
            if got != self.blob.size:
                raise StepFailed(
                    "blob GET", "GET", self.pulled, 200, f"{got} of {self.blob.size} bytes"
                )
        seconds = time.perf_counter() - start
        if kind != "pull":
            self.pulled = self.blob.digest
        return self.blob.size / 1e6 / seconds

    def calibrate(self) -> None:
        if self.settings.clients:
            return
        for kind in KINDS:
            speeds = {}
            for name, factory in CLIENTS.items():
                client = factory(self.server.base, self.server.push_auth)
                try:
                    speeds[name] = self._transfer(client, kind)
                finally:
                    client.close()
            best = max(speeds, key=lambda n: speeds[n])
            self.settings.clients[kind] = best
            shown = ", ".join(f"{n} {v:,.0f} MB/s" for n, v in speeds.items())
            self.settings.calibration.append(f"{kind} on {self.server.label}: {shown} → {best}")
            print(f"    {kind}: {shown} -> {best}", flush=True)

    def _repeat(self, kind: str, key: str) -> None:
        factory = CLIENTS[self.settings.clients.get(kind, "httpx")]
        client = factory(self.server.base, self.server.push_auth)
        try:
            count = self.settings.pull_repeats if kind == "pull" else self.settings.repeats
            speeds = [self._transfer(client, kind) for _ in range(count)]
        finally:
            client.close()
        self.result.add(key, *speeds)
        print(f"    {key}: " + ", ".join(f"{s:,.0f}" for s in speeds), flush=True)

    def mono_push(self) -> None:
        assert self.server.proc is not None
        with RssSampler(self.server.proc.pid) as sampler:
            self._repeat("monolithic push", "mono_mbps")
        self.result.add("peak_rss_mb", sampler.peak / 1e6)
        print(f"    peak RSS {sampler.peak / 1e6:,.0f} MB ({sampler.samples} samples)", flush=True)

    def chunked_push(self) -> None:
        self._repeat("chunked push", "chunked_mbps")

    def pull(self) -> None:
        if not self.pulled:
            raise StepFailed("pull", "GET", "", "skipped", "no big blob was pushed")
        self._repeat("pull", "pull_mbps")

    def _wrk(self, path: str, prefix: str, accept: str | None) -> None:
        check_get(self.server.base, path, accept or "*/*")
        res = run_wrk(self.server.base + path, self.settings.wrk_seconds, accept)
        if res.bad_status or res.socket_errors:
            self.result.notes.append(
                f"{prefix}: {res.bad_status} non-2xx answers and "
                f"{res.socket_errors} socket errors in {res.requests} requests"
            )
        self.result.add(f"{prefix}_rps", res.requests_per_s)
        self.result.add(f"{prefix}_p50", res.p50_ms)
        self.result.add(f"{prefix}_p99", res.p99_ms)
        print(
            f"    {prefix}: {res.requests_per_s:,.0f} req/s p50 {res.p50_ms} ms "
            f"p99 {res.p99_ms} ms",
            flush=True,
        )

    def manifest_get(self) -> None:
        self._wrk(f"/v2/{REPO}/manifests/{TAG}", "manifest", OCI_MANIFEST)

    def blob_get(self) -> None:
        if not self.blob4k:
            raise StepFailed(
                "4 KiB blob GET", "GET", "", "skipped", "the 4 KiB blob was not pushed"
            )
        self._wrk(f"/v2/{REPO}/blobs/{self.blob4k}", "blob4k", None)

    def small_images(self) -> None:
        images = make_images(self.settings.images, self.server.label)
        os.sync()
        res = push_images(self.server.base, REPO, images, auth=self.server.push_auth)
        self.result.add("images_per_s", res.images_per_s)
        print(
            f"    {res.images} images in {res.seconds:.2f} s ({res.requests} requests): "
            f"{res.images_per_s:,.1f} images/s",
            flush=True,
        )


class _Profile:
    """Records a step with py-spy, then prints and saves its hot spots next to the profile."""

    def __init__(self, recording: PySpyRecording) -> None:
        self.recording = recording

    def __enter__(self) -> None:
        self.recording.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.recording.__exit__(*exc)
        out = self.recording.out
        if not out.exists():
            print(f"    py-spy wrote nothing; see {out.with_suffix('.log')}", flush=True)
            return
        lines = hot_spots(out, PROJECT)
        out.with_suffix(".top.txt").write_text("\n".join(lines) + "\n")
        print("\n".join("    " + line for line in lines[:8]), flush=True)
