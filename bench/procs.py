"""Processes of a benchmark run: the server under test, the bare baseline app, the fake
peers and the load generator, each a separate process on loopback.

The server (and the bare app it is compared with) is pinned to one core, everything else
to the other cores, where the machine has more than one. Figures are read from the
process under test: CPU time (user + system, all threads) and RSS, through psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"


# -- cores ---------------------------------------------------------------------------


def available_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Cores:
    """Where the process under test runs, and where everything else does."""

    server: list[int]
    load: list[int]

    @property
    def pinned(self) -> bool:
        return self.server != self.load

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (one core)"
        return f"server on core {self.server}, load on {self.load}"


def plan_cores() -> Cores:
    cores = available_cores()
    if len(cores) < 2:
        return Cores(cores, cores)
    return Cores(cores[:1], cores[1:])


def pin(pid: int, cores: list[int]) -> None:
    # No affinity on this platform: measure unpinned.
    with contextlib.suppress(AttributeError, psutil.Error, OSError):
        psutil.Process(pid).cpu_affinity(cores)


# -- measuring another process -------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of a whole process (every thread, user and system), in seconds.

    On Linux, the sum of the threads' scheduler run times (nanoseconds, from
    /proc/PID/task/*/schedstat), or, when a thread has exited since the last reading,
    the kernel's per-process total in clock ticks (10 ms), whichever is larger; elsewhere
    psutil's user + system time.
    """
    ticks = _tick_seconds(pid)
    precise = _schedstat_seconds(pid)
    if precise is None:
        return ticks
    # A thread that ended takes its run time out of the sum, never out of the ticks.
    return precise if precise >= ticks - 0.03 else ticks


def _tick_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _schedstat_seconds(pid: int) -> float | None:
    tasks = Path(f"/proc/{pid}/task")
    total = 0
    try:
        for task in tasks.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except FileNotFoundError:
                continue  # the thread ended just now
    except OSError:
        return None
    return total / 1e9


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """(user, system) CPU seconds of each live thread of a process, by thread id."""
    return {t.id: (t.user_time, t.system_time) for t in psutil.Process(pid).threads()}


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


MIB = 1024 * 1024


# -- ports ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """SIGINT (aiohttp shuts down cleanly, cProfile writes its file), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


# -- the server under test -----------------------------------------------------------


def server_config(port: int, database: Path, **sections: dict[str, Any]) -> str:
    """A config file for a server on 127.0.0.1:`port`; `sections` override keys."""
    values: dict[str, dict[str, Any]] = {
        "instance": {
            "domain": f"{LOOPBACK}:{port}",
            "base_url": f"http://{LOOPBACK}:{port}",
            "name": "fedserver bench",
        },
        "server": {"host": LOOPBACK, "port": port},
        "database": {"path": str(database)},
        "federation": {"allow_http": True, "allow_private_addresses": True},
        # The bench is one client hammering the API: the per-token limit is for people.
        "api": {"authenticated_requests_per_5min": 0, "unauthenticated_requests_per_5min": 0},
    }
    for name, overrides in sections.items():
        values.setdefault(name, {}).update(overrides)
    lines = []
    for name, keys in values.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in keys.items())
        lines.append("")
    return "\n".join(lines)


@dataclass
class Server:
    """`python -m fedserver --config <workdir>/config.toml serve`, pinned."""

    workdir: Path
    cores: Cores
    port: int = field(default_factory=free_port)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Run under cProfile, writing `<workdir>/server.prof` when stopped.
    profile: bool = False
    #: An experiment: `server.access_log = false` (the shipped default logs every request).
    quiet: bool = False
    #: An experiment: `server.event_loop` ("asyncio" to measure without uvloop).
    event_loop: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.workdir / "fedserver.sqlite3"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.toml"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def profile_path(self) -> Path:
        return self.workdir / "server.prof"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sections = dict(self.sections)
        if self.quiet:
            sections["server"] = {**sections.get("server", {}), "access_log": False}
        if self.event_loop is not None:
            sections["server"] = {**sections.get("server", {}), "event_loop": self.event_loop}
        self.config_path.write_text(server_config(self.port, self.database, **sections))
        return self.config_path

    def start(self) -> None:
        self.write_config()
        command = [PYTHON]
        if self.profile:
            command += ["-m", "cProfile", "-o", str(self.profile_path)]
        command += ["-m", "fedserver", "--config", str(self.config_path), "serve"]
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        pin(self.proc.pid, self.cores.server)
        wait_listening(self.port, self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> int | None:
        """Stop the server; returns its exit status if it had already exited by itself
        (it died during the scenario), else None."""
        if self.proc is None:
            return None
        died = self.proc.poll()
        stop_process(self.proc, grace=15.0 if self.profile else 5.0)
        return died

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- helper processes (bare app, fake peers, load generator) --------------------------


def start_module(
    module: str, *args: str, cores: list[int], workdir: Path, name: str
) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        [PYTHON, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.PIPE,
    )
    log.close()
    pin(proc.pid, cores)
    return proc


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of a helper's stdout (its handshake), within `timeout` seconds."""
    assert proc.stdout is not None
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"{proc.args!r} said nothing for {timeout:g} s")
    line = proc.stdout.readline().decode().strip()
    if not line and proc.poll() is not None:
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
    return line


def dump(path: Path, value: object) -> Path:
    path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return path
