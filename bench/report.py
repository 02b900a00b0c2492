"""The machine description, the figures table with targets, and RESULTS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

RSS_LIMIT_MB = 300.0


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: str  # "ratio" (Berth >= Distribution), "latency" (Berth <= Distribution), "rss", ""


def metrics(size_label: str, images: int) -> list[Metric]:
    return [
        Metric("mono_mbps", f"{size_label} monolithic push", "MB/s", True, "ratio"),
        Metric(
            "chunked_mbps", f"{size_label} chunked push (16 MiB PATCHes)", "MB/s", True, "ratio"
        ),
        Metric("pull_mbps", f"{size_label} blob pull", "MB/s", True, "ratio"),
        Metric("manifest_rps", "manifest GET by tag, 64 conns", "req/s", True, "ratio"),
        Metric("manifest_p50", "manifest GET p50", "ms", False, ""),
        Metric("manifest_p99", "manifest GET p99", "ms", False, "latency"),
        Metric("blob4k_rps", "4 KiB blob GET, 64 conns", "req/s", True, "ratio"),
        Metric("blob4k_p50", "4 KiB blob GET p50", "ms", False, ""),
        Metric("blob4k_p99", "4 KiB blob GET p99", "ms", False, "latency"),
        Metric("images_per_s", f"{images} small images, 8 clients", "images/s", True, "ratio"),
        Metric("peak_rss_mb", f"peak RSS during {size_label} monolithic push", "MB", False, "rss"),
    ]


@dataclass
class RegistryResult:
    """What one registry scored: every value of every round in `runs`, failed steps in
    `failures`. A figure is the median of its runs (the peak RSS: the largest)."""

    label: str
    runs: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, *values: float) -> None:
        self.runs.setdefault(key, []).extend(values)

    def figure(self, key: str) -> float | None:
        values = self.runs.get(key)
        if not values:
            return None
        return max(values) if key == "peak_rss_mb" else statistics.median(values)


def _run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        text = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return text.splitlines()[0] if text else ""


def machine(python: str, repo: Path, load_at_start: float | None = None) -> list[tuple[str, str]]:
    """Facts about the run's machine; the load averages show whether anything else was running."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = _run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(repo), "status", "--porcelain", "--", ".", ":!bench"])
    if dirty not in ("", "unknown"):
        commit += " + uncommitted changes"
    return [
        ("date (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")),
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python (Berth)", _run([python, "-c", "import sys; print(sys.version.split()[0])"])),
        ("Distribution", _run(["docker-registry", "--version"])),
        ("wrk", _run(["wrk", "-v"]).split(" Copyright")[0]),
        ("curl", " ".join(_run(["curl", "--version"]).split()[:2])),
        ("Berth commit", commit if "fatal" not in commit else "none yet"),
        ("load average (1 min), start / end", _load(load_at_start)),
    ]


def disk(path: Path) -> str:
    """The device and file system holding path, and whether the kernel calls it rotational."""
    source = _run(["findmnt", "-no", "SOURCE,FSTYPE", "-T", str(path)])
    device = source.split()[0].removeprefix("/dev/") if source else ""
    rotational = Path(f"/sys/block/{device}/queue/rotational")
    kind = ""
    if rotational.exists():
        kind = (
            " (rotational flag set: a virtual disk)"
            if rotational.read_text().strip() == "1"
            else " (SSD)"
        )
    return f"{source}{kind}" if source else "unknown"


def _load(at_start: float | None) -> str:
    start = "—" if at_start is None else f"{at_start:.2f}"
    return f"{start} / {os.getloadavg()[0]:.2f}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def verdict(metric: Metric, dist: float | None, berth: float | None) -> tuple[str, str]:
    """Return (ratio text, target text) for one row."""
    ratio = f"{berth / dist:.2f}×" if dist and berth is not None else "—"
    if metric.target == "rss":
        if berth is None:
            return ratio, f"< {RSS_LIMIT_MB:.0f} MB: n/a"
        return ratio, f"< {RSS_LIMIT_MB:.0f} MB: {'met' if berth < RSS_LIMIT_MB else 'MISSED'}"
    if not metric.target:
        return ratio, "(info)"
    if dist is None or berth is None:
        return ratio, "n/a"
    if metric.target == "ratio":
        return ratio, f"≥ 1.00×: {'met' if berth >= dist else 'MISSED'}"
    return ratio, f"≤ Distribution: {'met' if berth <= dist else 'MISSED'}"


def table(
    rows: list[Metric], dist: RegistryResult | None, berth: RegistryResult | None
) -> list[str]:
    lines = [
        "| metric | Distribution | Berth | ratio Berth/Dist. | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for metric in rows:
        d = dist.figure(metric.key) if dist else None
        b = berth.figure(metric.key) if berth else None
        ratio, target = verdict(metric, d, b)
        better = "higher is better" if metric.higher_is_better else "lower is better"
        name = f"{metric.label} ({metric.unit}, {better})"
        lines.append(f"| {name} | {_fmt(d)} | {_fmt(b)} | {ratio} | {target} |")
    return lines


def misses(
    rows: list[Metric], dist: RegistryResult | None, berth: RegistryResult | None
) -> list[str]:
    found = []
    for metric in rows:
        d = dist.figure(metric.key) if dist else None
        b = berth.figure(metric.key) if berth else None
        ratio, target = verdict(metric, d, b)
        if "MISSED" in target:
            found.append(
                f"{metric.label}: Berth {_fmt(b)} vs Distribution {_fmt(d)} {metric.unit} ({ratio})"
            )
    return found


@dataclass
class RunInfo:
    """How the run was made, for the notes under the table."""

    size: int
    rounds: int
    repeats: int
    pull_repeats: int
    wrk_seconds: int
    images: int
    clients: dict[str, str]
    calibration: list[str]
    quick: bool


def _raw_runs(results: list[RegistryResult]) -> list[str]:
    lines = []
    for result in results:
        for key, values in result.runs.items():
            shown = ", ".join(_fmt(v) for v in values)
            lines.append(f"- {result.label} `{key}`: {shown}")
    return lines


def markdown(
    rows: list[Metric],
    dist: RegistryResult | None,
    berth: RegistryResult | None,
    info: RunInfo,
    host: list[tuple[str, str]],
) -> str:
    results = [r for r in (dist, berth) if r is not None]
    out = ["# Berth vs Distribution: benchmark results", ""]
    out += [
        "Written by `bench/run`" + (" --quick" if info.quick else "") + "; do not edit by hand. "
        "See `bench/README.md` for what each figure means.",
        "",
    ]
    out += ["## Machine", "", "| | |", "| --- | --- |"]
    out += [f"| {name} | {value} |" for name, value in host]
    out += ["", "## Figures", ""]
    out += table(rows, dist, berth)
    missed = misses(rows, dist, berth)
    out += ["", "## Targets", ""]
    out += [
        "Every throughput and req/s at least Distribution's, every p99 at most "
        f"Distribution's, Berth's peak RSS under {RSS_LIMIT_MB:.0f} MB during the big push.",
        "",
    ]
    if dist is None or berth is None:
        out.append("- not judged: this run measured only one registry.")
    else:
        out += [f"- MISSED: {m}" for m in missed] or ["- all targets met."]
    out += ["", "## How it was measured", ""]
    out += [
        f"- {info.rounds} round(s), the registries taking turns (Distribution, Berth, "
        "Distribution, ...), each restarted on an empty data dir per round; a figure is the "
        "median over all rounds (peak RSS: the largest).",
        f"- Transfers: {info.size / 2**20:.0f} MiB of random bytes, {info.repeats} push(es) "
        f"of each kind and {info.pull_repeats} pulls per round; each push sends a blob the "
        "registry has not seen. MB = 10^6 bytes.",
        "- Clients chosen by timing both against the first registry: "
        + ", ".join(f"{kind} {client}" for kind, client in info.clients.items())
        + ".",
        *[f"  - {line}" for line in info.calibration],
        f"- wrk: 2 threads, 64 connections, {info.wrk_seconds} s after a 2 s warm-up, `--latency`.",
        f"- Small images: {info.images} unique images (config + 1–2 layers of 1–32 KiB + "
        "OCI manifest, each blob POST + PUT ?digest=) from 8 threads on keep-alive connections.",
        "- Peak RSS: sum of VmRSS over the server's process tree, sampled every 50 ms.",
        "- The registries run one after the other, never together; the load generator (wrk, "
        "curl, Python) shares the same 2 cores with the server, so figures are lower than on a "
        "machine with a separate client. Data dirs live on the same disk; the file system is "
        "synced before each transfer.",
    ]
    raw = _raw_runs(results)
    if raw:
        out += ["", "## Every run", "", *raw]
    notes = [f"- {r.label}: {n}" for r in results for n in r.notes]
    if notes:
        out += ["", "## Notes", "", *notes]
    failures = [f"- {r.label}: {f}" for r in results for f in r.failures]
    if failures:
        out += ["", "## Failed steps", "", *failures]
    return "\n".join(out) + "\n"


def closing_sections(
    rows: list[str], python: str, repo: Path, load: float | None, failure: str
) -> list[str]:
    """The end every one-feature report shares: each run, the machine, and a failure."""
    lines = [
        "## Every run",
        "",
        "| step | round | rate | detail |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine(python, repo, load)],
        "",
    ]
    if failure:
        lines += ["## Failed", "", f"`{failure}`", ""]
    return lines
