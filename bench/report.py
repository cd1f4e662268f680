"""The table a run prints, and the history it appends to bench/RESULTS.md."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

import psutil

from bench.procs import REPO, Cores

RESULTS = REPO / "bench" / "RESULTS.md"


@dataclass(frozen=True)
class Target:
    """`op` `threshold` on the ratio when the row has a baseline, else on the value."""

    op: str  # ">=", "<=", "<", "=="
    threshold: float

    def met(self, measured: float) -> bool:
        if self.op == ">=":
            return measured >= self.threshold
        if self.op == "<=":
            return measured <= self.threshold
        if self.op == "<":
            return measured < self.threshold
        return abs(measured - self.threshold) < 0.005

    def __str__(self) -> str:
        return f"{self.op} {_number(self.threshold)}"


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    value: float | None
    baseline: str = ""
    baseline_value: float | None = None
    target: Target | None = None
    #: Shown instead of the value when it is None ("not available: ..."), or after it.
    note: str = ""
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def judged(self) -> float | None:
        return self.ratio if self.baseline else self.value

    @property
    def result(self) -> str:
        if self.value is None:
            return "n/a"
        if self.target is None:
            return "info"
        judged = self.judged
        if judged is None:
            return "n/a"
        return "pass" if self.target.met(judged) else "FAIL"


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def _cells(row: Row) -> list[str]:
    value = _number(row.value, row.unit) if row.value is not None else "n/a"
    baseline = ""
    if row.baseline:
        baseline = f"{row.baseline} {_number(row.baseline_value)}".strip()
    ratio = _number(row.ratio) if row.ratio is not None else ""
    return [
        row.scenario,
        row.figure,
        value,
        baseline,
        ratio,
        str(row.target) if row.target else "",
        row.result,
    ]


HEADER = ["scenario", "figure", "value", "baseline", "ratio", "target", "result"]


def table(rows: list[Row]) -> str:
    """A plain-text table (the terminal)."""
    cells = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    notes = [f"  {row.scenario}, {row.figure}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        cells = [cell.replace("|", "/") for cell in _cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {row.scenario}, {row.figure}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out + (" (with uncommitted changes)" if dirty else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def machine(cores: Cores) -> str:
    memory = psutil.virtual_memory().total / 1024**3
    load = ", ".join(f"{value:.1f}" for value in psutil.getloadavg())
    return (
        f"nproc {psutil.cpu_count()}, {memory:.1f} GiB, {platform.machine()}, "
        f"Python {platform.python_version()}, aiohttp {_version('aiohttp')}, "
        f"cryptography {_version('cryptography')}, aiosqlite {_version('aiosqlite')}, "
        f"orjson {_version('orjson')}, uvloop {_version('uvloop')}; "
        f"{cores.describe()}; load average at start {load}"
    )


def append_results(
    rows: list[Row], *, mode: str, facts: str, seconds: float, note: str = "", extra: str = ""
) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = "" if RESULTS.exists() else RESULTS_HEADER
    if not header and not RESULTS.read_text().endswith("\n\n"):
        header = "\n"  # a blank line before the heading, whatever the file ended with
    section = [f"## {stamp} · {commit()} · {mode}", "", f"{facts}. Run took {seconds:.0f} s."]
    if note:
        section += ["", note]
    section += ["", markdown(rows), ""]
    if extra:
        section += [extra, ""]
    with RESULTS.open("a") as file:
        file.write(header + "\n".join(section) + "\n")


RESULTS_HEADER = """# Benchmark results

Appended by `make bench` (quick) and `make bench FULL=1`, newest last. Figures are work
per CPU-second of the process under test, or ratios against baselines measured in the
same run; see bench/README.md for what each row means. Changes that moved a figure are
recorded with their before and after runs.

"""
