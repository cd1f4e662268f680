"""An activity answered 202 survives kill -9.

A fake peer (in this test's loop) posts signed Create activities to a real server process;
right after the last 202 the server is SIGKILLed, mid-processing. Started again, it must
hold every acknowledged activity and finish processing all of them: each becomes a status.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp
from pytest_aiohttp import AiohttpServer

from actors.service import create_user
from fedserver.db import Store
from fedserver.ids import IdGenerator, utc_now
from tests.fakes.processes import free_port, start_server, stop, tail, wait_for_port
from tests.fakes.remote import AS_PUBLIC, MASTODON, FakePeer

ACTIVITIES = 40


async def counts(database: Path) -> tuple[int, int, int]:
    """(inbox items, items processed, remote statuses) in the database."""
    store = await Store.open(database)
    try:
        items = await store.db.fetch_value("SELECT count(*) FROM inbox_items")
        done = await store.db.fetch_value("SELECT count(*) FROM inbox_items WHERE state = 'done'")
        statuses = await store.db.fetch_value("SELECT count(*) FROM statuses WHERE uri IS NOT NULL")
        return int(items), int(done), int(statuses)
    finally:
        await store.close()


async def test_acknowledged_activities_survive_kill_9(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    # The server process uses real DNS and the real clock: the peer lives at its address.
    peer_port = free_port()
    peer = FakePeer(f"127.0.0.1:{peer_port}", MASTODON, utc_now)
    peer.add_actor("bob")
    await aiohttp_server(peer.app, port=peer_port)

    port = free_port()
    domain = f"localhost:{port}"
    database = tmp_path / "inbox.sqlite3"
    store = await Store.open(database)
    try:
        await store.migrate()
        await create_user(
            store, IdGenerator(), utc_now(), username="alice", password="x" * 12,
            email=None, is_admin=False, approved=True, reserved=set(),
        )  # fmt: skip
    finally:
        await store.close()
    config_file = tmp_path / "inbox.toml"
    config_file.write_text(
        f'[instance]\ndomain = "{domain}"\nbase_url = "http://{domain}"\n'
        f'[server]\nport = {port}\n[database]\npath = "{database.name}"\n'
        "[federation]\nallow_http = true\nallow_private_addresses = true\n"
    )
    log = tmp_path / "server.log"
    first = start_server(config_file, log)
    second = None
    try:
        wait_for_port(first, port, log)
        # Given a stream of activities, each acknowledged with 202...
        async with aiohttp.ClientSession() as session:
            for n in range(ACTIVITIES):
                note = {
                    "id": f"{peer.actor_uri('bob')}/notes/{n}",
                    "type": "Note",
                    "attributedTo": peer.actor_uri("bob"),
                    "content": f"<p>note {n}</p>",
                    "to": [AS_PUBLIC],
                }
                body = json.dumps(peer.activity("bob", "Create", note, to=[AS_PUBLIC])).encode()
                headers = peer.signed_headers("POST", f"http://{domain}/inbox", body, name="bob")
                async with session.post(
                    f"http://127.0.0.1:{port}/inbox", data=body, headers=headers
                ) as response:
                    assert response.status == 202, await response.text()
        # ...when the server is killed right after the last acknowledgement...
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # (On this machine about half were still unprocessed at the kill.)
        stored, _, _ = await counts(database)
        assert stored == ACTIVITIES

        # ...it still has them all after a restart, and processes every one.
        second = start_server(config_file, log)
        wait_for_port(second, port, log)
        deadline = time.monotonic() + 30
        while (await counts(database))[1:] != (ACTIVITIES, ACTIVITIES):
            assert time.monotonic() < deadline, f"not all processed:\n{tail(log)}"
            await asyncio.sleep(0.1)
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
