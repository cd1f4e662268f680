"""The benchmark code runs: one tiny key-fetch storm against a real server process.

Functional only (no timing is asserted): the rows come out, every valid activity is
accepted, every forged one refused, and each new actor's key is fetched exactly once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the bench extra is not installed (make bench)")

from bench.baselines import Baselines
from bench.procs import plan_cores
from bench.scenarios import QUICK, Context, key_fetch_storm

TINY = dataclasses.replace(QUICK, storm_actors=4, storm_peers=2)


def test_tiny_key_fetch_storm_runs_end_to_end(tmp_path: Path) -> None:
    cores = plan_cores()
    ctx = Context(
        root=tmp_path,
        cores=cores,
        full=False,
        baselines=Baselines(tmp_path, cores),
        custom_sizes=TINY,
    )

    rows = {row.figure.split(" (")[0]: row for row in key_fetch_storm(ctx)}

    fetches = rows["key fetches / distinct keys"]
    assert fetches.value == 1.0, fetches.note
    rejected = rows["bad signatures rejected per CPU-s"]
    assert rejected.note.startswith("8 of 8 answered 401"), rejected.note
    cold = rows["cold: accepted+processed per CPU-s"]
    assert cold.value is not None
    assert cold.value > 0
    assert "errors" not in cold.note
