"""`fedserver serve` as a real process: it listens, answers WebFinger and the actor over real
HTTP, says how to create the first account, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from fedserver.cli import main

STARTUP_SECONDS = 15
AP = "application/activity+json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the port accepts connections; fails if the process exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"serve exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"serve did not listen on port {port} in {STARTUP_SECONDS}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def fetch(port: int, domain: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """WebFinger alice, then fetch the actor its self link names (on this port)."""
    origin = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(
            f"{origin}/.well-known/webfinger", params={"resource": f"acct:alice@{domain}"}
        ) as response:
            assert response.status == 200
            assert response.content_type == "application/jrd+json"
            jrd: dict[str, Any] = await response.json(content_type=None)
        [self_link] = [link for link in jrd["links"] if link["rel"] == "self"]
        path = self_link["href"].removeprefix(f"http://{domain}")
        async with session.get(origin + path, headers={"Accept": AP}) as response:
            assert response.status == 200
            assert response.content_type == AP
            actor: dict[str, Any] = await response.json(content_type=None)
    return jrd, actor


def test_serve_answers_over_real_http_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    domain = f"localhost:{port}"
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'[instance]\ndomain = "{domain}"\nbase_url = "http://{domain}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        '[database]\npath = "data/serve.sqlite3"\n'
    )
    assert (
        main(["--config", str(config_file), "user", "create", "alice", "--password", "x" * 12]) == 0
    )
    stdout_file, stderr_file = tmp_path / "serve.out", tmp_path / "serve.err"

    with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "fedserver", "--config", str(config_file), "serve"],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        try:
            wait_for_port(process, port, stderr_file)
            jrd, actor = asyncio.run(fetch(port, domain))
        finally:
            stop(process)

    assert jrd["subject"] == f"acct:alice@{domain}"
    assert actor["id"] == f"http://{domain}/users/alice"
    assert actor["type"] == "Person"
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    # SIGTERM is a graceful shutdown: cleanup contexts ran and the exit status is 0.
    assert process.returncode == 0, stderr_file.read_text(errors="replace")
    out = stdout_file.read_text()
    assert f"serving http://{domain} on http://127.0.0.1:{port}" in out
    assert "create the first account" in out
    assert f"--config {config_file} user create NAME --admin" in out
