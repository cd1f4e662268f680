"""`fedserver serve` as a real process: it listens, answers WebFinger and the actor over real
HTTP, says how to create the first account, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from fedserver.cli import main
from tests.fakes.processes import free_port, start_server, stop, wait_for_port

AP = "application/activity+json"


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

    process = start_server(config_file, stderr_file, stdout_log=stdout_file)
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
