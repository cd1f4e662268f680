"""Driving the helper processes from the runner: fake peers, the load generator, and the
bare aiohttp app; and the measured window (CPU time of the process under test)."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench import fixtures
from bench.loadgen import Job
from bench.peers import PeerSpec
from bench.procs import (
    LOOPBACK,
    Cores,
    cpu_seconds,
    dump,
    free_port,
    read_line,
    rss_bytes,
    start_module,
    stop_process,
    thread_cpu,
    wait_listening,
)


class Measured(Protocol):
    @property
    def pid(self) -> int: ...


# -- fake peers ------------------------------------------------------------------------


@dataclass
class PeerStats:
    port: int
    mode: str
    gets: dict[str, int]
    posts: dict[str, int]
    post_times: list[float]
    connections: int


class FakePeers:
    """The fake remote servers of one scenario, in their own process."""

    def __init__(self, specs: list[PeerSpec], workdir: Path, cores: Cores) -> None:
        self.specs = specs
        spec_path = workdir / "peers.json"
        spec_path.write_text(
            json.dumps(
                {
                    "peers": [asdict(spec) for spec in specs],
                    "public_pems": list(fixtures.public_pems()),
                }
            )
        )
        self.proc = start_module(
            "bench.peers", str(spec_path), cores=cores.load, workdir=workdir, name="peers"
        )
        ready = json.loads(read_line(self.proc, timeout=120))
        self.ports: list[int] = ready["ports"]
        self.control = f"http://{LOOPBACK}:{ready['control']}"

    def base_url(self, index: int) -> str:
        return f"http://{LOOPBACK}:{self.ports[index]}"

    def actor_uri(self, index: int, name: str) -> str:
        return f"{self.base_url(index)}/users/{name}"

    def stats(self) -> list[PeerStats]:
        with urllib.request.urlopen(self.control + "/stats", timeout=30) as response:
            return [PeerStats(**entry) for entry in json.load(response)]

    def reset(self) -> None:
        request = urllib.request.Request(self.control + "/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def stop(self) -> None:
        stop_process(self.proc, grace=3.0)


# -- the load generator ----------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int
    statuses: dict[str, int]
    elapsed: float
    cpu: float
    timed_out: bool
    latency_ms: dict[str, float]
    #: CPU seconds the measured process used between "go" and the end of the window.
    server_cpu: float = 0.0
    #: The server's CPU in the window by thread (see `thread_split`).
    threads: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(str(status), 0) for status in statuses)

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if not k.startswith("2")}


def run_load(
    job: Job,
    measured: Measured,
    workdir: Path,
    cores: Cores,
    *,
    settle: Callable[[], None] | None = None,
    name: str = "load",
) -> LoadResult:
    """Run `job` from a load generator process; the server CPU window runs from just
    before the first request until the last answer, then until `settle()` returns
    (e.g. the inbox queue drained)."""
    return run_loads({name: job}, measured, workdir, cores, settle=settle)[name]


def run_loads(
    jobs: dict[str, Job],
    measured: Measured,
    workdir: Path,
    cores: Cores,
    *,
    settle: Callable[[], None] | None = None,
    during: Callable[[], None] | None = None,
) -> dict[str, LoadResult]:
    """Run several load generators at once (each its own process), started together;
    `during()` runs once they are all sending. Every result carries the same CPU window:
    all of them, then `settle()`."""
    procs = {}
    try:
        for name, job in jobs.items():
            procs[name] = start_module(
                "bench.loadgen",
                str(dump(workdir / f"{name}.job", job)),
                str(workdir / f"{name}.json"),
                cores=cores.load,
                workdir=workdir,
                name=name,
            )
        for name, proc in procs.items():
            if read_line(proc, timeout=120) != "ready":
                raise RuntimeError(f"load generator {name} did not start")
        threads_before = thread_cpu(measured.pid)
        cpu_before = cpu_seconds(measured.pid)
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        if during is not None:
            during()
        for name, proc in procs.items():
            line = read_line(proc, timeout=jobs[name].deadline_seconds + 30)
            if line != "done":
                raise RuntimeError(f"load generator {name} said {line!r}")
        if settle is not None:
            settle()
        cpu_after = cpu_seconds(measured.pid)
        threads_after = thread_cpu(measured.pid)
        for proc in procs.values():
            proc.wait(10)
    finally:
        for proc in procs.values():
            stop_process(proc, grace=2.0)
    split = thread_split(measured.pid, threads_before, threads_after)
    results = {}
    for name in jobs:
        data = json.loads((workdir / f"{name}.json").read_text())
        results[name] = LoadResult(**data, server_cpu=cpu_after - cpu_before, threads=split)
    return results


def thread_split(
    pid: int,
    before: dict[int, tuple[float, float]],
    after: dict[int, tuple[float, float]],
) -> dict[str, float]:
    """CPU seconds of the window: the event loop's thread (user, system) and the other
    threads together (aiosqlite's connections, `to_thread` work)."""
    split = {"main user": 0.0, "main system": 0.0, "other user": 0.0, "other system": 0.0}
    for tid, (user, system) in after.items():
        user0, system0 = before.get(tid, (0.0, 0.0))
        where = "main" if tid == pid else "other"
        split[f"{where} user"] += user - user0
        split[f"{where} system"] += system - system0
    return split


def best_rate(
    job: Job,
    measured: Measured,
    workdir: Path,
    cores: Cores,
    *,
    ok: tuple[int, ...] = (200,),
    rounds: int = 3,
    name: str = "load",
) -> tuple[float, LoadResult]:
    """Answers in `ok` per CPU-second of `measured`: the best of `rounds` runs of
    `job.count / rounds` requests each (as micro-benchmarks take the best round: on a
    shared machine the other rounds measure the neighbours too). Returns the rate and
    the best round's result."""
    best: tuple[float, LoadResult] | None = None
    each = max(1, job.count // rounds)
    for index in range(rounds):
        round_job = Job(
            job.base_url,
            job.requests,
            count=each,
            concurrency=job.concurrency,
            rate=job.rate,
            deadline_seconds=job.deadline_seconds / rounds,
        )
        result = run_load(round_job, measured, workdir, cores, name=f"{name}-{index}")
        rate = result.count(*ok) / result.server_cpu if result.server_cpu > 0 else 0.0
        if best is None or rate > best[0]:
            best = (rate, result)
    assert best is not None
    return best


# -- the bare aiohttp app ----------------------------------------------------------------


class BareApp:
    """bench/bare.py in its own process, on the server's core."""

    def __init__(self, workdir: Path, cores: Cores) -> None:
        self.port = free_port()
        self.proc = start_module(
            "bench.bare", str(self.port), cores=cores.server, workdir=workdir, name="bare"
        )
        wait_listening(self.port, self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        stop_process(self.proc, grace=3.0)


# -- waiting on the server's database --------------------------------------------------


@contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only look at the server's database (WAL: never blocks the server)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def scalar(database: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    with read_only(database) as connection:
        row = connection.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> bool:
    """Poll `condition` until true; False (not an exception) when `timeout` passes, so a
    scenario can report what it got."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def inbox_pending(database: Path) -> int:
    return scalar(database, "SELECT count(*) FROM inbox_items WHERE state = 'pending'")
