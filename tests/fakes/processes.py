"""Real `fedserver serve` processes for tests that need them (kill -9, real clients that
block, several instances started from the CLI). Every process is stopped in a finally."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTUP_SECONDS = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    config_file: Path, log: Path, *, stdout_log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m fedserver --config FILE serve`, run from the config's folder, output to
    `log` (stdout separately when `stdout_log` is given), without the caller's
    $FEDSERVER_CONFIG."""
    env = {key: value for key, value in os.environ.items() if key != "FEDSERVER_CONFIG"}
    with log.open("ab") as err, (stdout_log or log).open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "fedserver", "--config", str(config_file), "serve"],
            stdout=out,
            stderr=err if stdout_log else subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config_file.parent,
            env=env,
        )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the port accepts connections; fails if the process exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"serve did not listen on port {port} in {STARTUP_SECONDS}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it does not exit in 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
