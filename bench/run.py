"""Run the performance scenarios of ../shared/PERF.md and print one table.

    make bench                 # quick: every scenario, small sizes, under 3 minutes
    make bench FULL=1          # PERF.md's sizes where this machine can hold them
    python -m bench.run --only ingest,fanout --profile ingest --no-append

Each scenario runs the real server (`python -m fedserver --config X serve`) pinned to
one core and drives it from other processes over loopback; the baselines it is compared
with are measured in the same run. The table is appended to bench/RESULTS.md with the
date, the commit and the machine. `--profile NAME` runs that scenario's server under
cProfile and prints its top functions. The signature microbenchmark
(bench/signatures.py) runs too, as its own block.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import Baselines
from bench.procs import PYTHON, REPO, pin, plan_cores
from bench.report import Row, append_results, machine, table
from bench.scenarios import SCENARIOS, Context, run_scenario

ORDER = [
    "baselines",
    "ingest",
    "storm",
    "fanout",
    "mixed",
    "backlog",
    "footprint",
    "reads",
    "fedreads",
]


def signatures_block(seconds: float) -> tuple[str, bool]:
    """bench/signatures.py (another engineer's microbenchmark), as it prints itself."""
    completed = subprocess.run(
        [PYTHON, str(REPO / "bench" / "signatures.py"), "--seconds", f"{seconds:g}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed.stdout.rstrip() or completed.stderr.rstrip(), completed.returncode == 0


def profile_summary(path: Path, lines: int = 25) -> str:
    out = []
    for key in ("cumulative", "tottime"):
        stats = pstats.Stats(str(path))
        stats.sort_stats(key)
        import io

        buffer = io.StringIO()
        stats.stream = buffer  # type: ignore[attr-defined]
        stats.print_stats(lines)
        out.append(f"-- by {key} --\n" + buffer.getvalue())
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="PERF.md's sizes")
    parser.add_argument(
        "--only", help=f"comma-separated scenarios (default all: {','.join(ORDER)})"
    )
    parser.add_argument("--profile", metavar="SCENARIO", help="run its server under cProfile")
    parser.add_argument("--no-append", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--note", default="", help="a line for bench/RESULTS.md (what changed)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--no-signatures", action="store_true", help="skip bench/signatures.py")
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="an experiment: run the servers with aiohttp's access log off",
    )
    parser.add_argument(
        "--event-loop",
        choices=("auto", "asyncio", "uvloop"),
        help="an experiment: the servers' server.event_loop (default: the shipped auto)",
    )
    args = parser.parse_args(argv)

    names = ORDER if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(ORDER)}")
    cores = plan_cores()
    pin(os.getpid(), cores.load)
    root = Path(tempfile.mkdtemp(prefix="fedserver-bench-"))
    ctx = Context(
        root=root,
        cores=cores,
        full=args.full,
        baselines=Baselines(root, cores, seconds=1.5 if args.full else 0.6),
        profile=args.profile,
        quiet=args.no_access_log,
        event_loop=args.event_loop,
    )
    mode = ("FULL" if args.full else "quick") + (", access log off" if args.no_access_log else "")
    if args.event_loop:
        mode += f", event loop {args.event_loop}"
    facts = machine(cores)
    print(f"fedserver bench ({mode}): {facts}", flush=True)
    started = time.perf_counter()
    rows: list[Row] = []
    for name in names:
        began = time.perf_counter()
        found = run_scenario(ctx, name)
        rows += found
        print(f"  {name}: {time.perf_counter() - began:.1f} s", flush=True)
    signatures = ""
    if not args.no_signatures:
        signatures, _ = signatures_block(2.0 if args.full else 0.5)
    elapsed = time.perf_counter() - started
    print()
    print(table(rows))
    if signatures:
        print("\nbench/signatures.py:\n" + signatures)
    for scenario, path in ctx.profiles.items():
        print(f"\ncProfile of the {scenario} server ({path}):")
        print(profile_summary(path))
    print(f"\n{mode} run took {elapsed:.0f} s")
    if not args.no_append:
        append_results(
            rows,
            mode=mode,
            facts=facts,
            seconds=elapsed,
            note=args.note,
            extra=f"bench/signatures.py:\n\n```\n{signatures}\n```" if signatures else "",
        )
        print(f"appended to {REPO / 'bench' / 'RESULTS.md'}")
    if args.keep or ctx.profiles:
        print(f"working directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
