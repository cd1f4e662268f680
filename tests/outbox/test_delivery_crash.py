"""kill -9 in the middle of a fan-out loses nothing.

The real server runs as a subprocess (`python -m fedserver serve`) on a database holding
1,000 queued deliveries (20 activities to 50 inboxes on 5 slow fake hosts, living in
this test's event loop). It is SIGKILLed once some but not all arrived, then started
again: every (inbox, activity id) must arrive, duplicates allowed (at-least-once), and
the database must end with every row delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pytest_aiohttp import AiohttpServer

from actors.service import create_user
from fedserver.db import Store
from fedserver.ids import IdGenerator, utc_now
from fedserver.signatures import load_public_key
from outbox.delivery import serialize_activity
from tests.fakes.processes import start_server, tail
from tests.fakes.receivers import FakeReceiver, Received, closed_port

HOSTS = 5
INBOXES_PER_HOST = 10
ACTIVITIES = 20
#: Each answer takes this long; with 4 POSTs in flight per host the fan-out takes ~2.5 s.
LATENCY = 0.05
KILL_AFTER = 150
DEADLINE_SECONDS = 60
BASE_URL = "http://crash.test"


async def prepare(database: Path, inboxes: list[str]) -> tuple[set[tuple[str, str]], str]:
    """Queue every delivery before the server starts; returns the (inbox path, activity
    id) pairs expected and alice's public key PEM."""
    store = await Store.open(database)
    try:
        await store.migrate()
        ids = IdGenerator()
        alice = await create_user(
            store,
            ids,
            utc_now(),
            username="alice",
            password="correct horse battery",
            email=None,
            is_admin=False,
            approved=True,
            reserved=set(),
        )
        expected = set()
        async with store.db.transaction() as tx:
            for n in range(1, ACTIVITIES + 1):
                activity_id = f"{BASE_URL}/users/alice/statuses/{n}/activity"
                await store.deliveries.enqueue(
                    tx,
                    activity_id=activity_id,
                    sender_account_id=alice.account.id,
                    body=serialize_activity({"id": activity_id, "type": "Create"}),
                    inboxes=inboxes,
                    status_id=None,
                    now=utc_now(),
                    new_id=ids,
                )
                expected |= {(inbox, activity_id) for inbox in inboxes}
        pem = (await store.accounts.keypairs(alice.account.id))["rsa"].public_key_pem
        return expected, pem
    finally:
        await store.close()


async def delivered_count(database: Path) -> int:
    store = await Store.open(database)
    try:
        return await store.deliveries.count("delivered")
    finally:
        await store.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until(
    condition: Callable[[], bool], seconds: float, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the server exited:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; server log:\n{tail(log)}")
        await asyncio.sleep(0.005)


async def test_kill_9_during_a_fan_out_loses_no_delivery(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    hosts: dict[str, FakeReceiver] = {}
    for _ in range(HOSTS):
        receiver = FakeReceiver(latency=LATENCY)
        server = await aiohttp_server(receiver.app)
        hosts[f"127.0.0.1:{server.port}"] = receiver
    inboxes = [f"http://{host}/inbox/{n}" for host in hosts for n in range(INBOXES_PER_HOST)]

    def arrivals() -> list[Received]:
        return [item for receiver in hosts.values() for item in receiver.received]

    def received() -> list[tuple[str, str]]:
        return [
            (f"http://{host}{item.path}", item.activity_id)
            for host, receiver in hosts.items()
            for item in receiver.received
        ]

    database = tmp_path / "crash.sqlite3"
    expected, pem = await prepare(database, inboxes)
    assert len(expected) == HOSTS * INBOXES_PER_HOST * ACTIVITIES == 1000
    config_file = tmp_path / "crash.toml"
    config_file.write_text(
        '[instance]\ndomain = "crash.test"\nbase_url = "http://crash.test"\n'
        f"[server]\nport = {closed_port()}\n"
        f'[database]\npath = "{database.name}"\n'
        "[federation]\nallow_http = true\nallow_private_addresses = true\n"
    )
    log = tmp_path / "server.log"

    first = start_server(config_file, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        # Given a fan-out under way, when the server is killed with SIGKILL...
        await wait_until(lambda: len(received()) >= KILL_AFTER, 20, first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        await asyncio.sleep(0.2)  # requests already written to a socket still land
        before_kill = received()
        acknowledged = await delivered_count(database)
        assert len(before_kill) < len(expected), "the fan-out finished before the kill"
        assert len(set(before_kill)) == len(before_kill)  # no duplicates within a run
        assert acknowledged <= len(before_kill)

        # ...and started again, every delivery arrives and is marked delivered.
        second = start_server(config_file, log)
        restarted_at = time.monotonic()
        await wait_until(lambda: len(received()) > len(before_kill), 20, second, log)
        cpu_at_first_post = cpu_seconds(second.pid)
        await wait_until(lambda: set(received()) >= expected, DEADLINE_SECONDS, second, log)
        cpu_at_last_post = cpu_seconds(second.pid)
        deadline = time.monotonic() + 10
        while await delivered_count(database) < len(expected):
            assert time.monotonic() < deadline, "rows were not marked delivered"
            await asyncio.sleep(0.05)
        # A graceful stop (SIGTERM) with nothing left to do.
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, tail(log)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    posts = received()
    assert set(posts) == expected
    # The only duplicates are the POSTs that were in flight, unacknowledged, at the kill.
    duplicates = len(posts) - len(expected)
    assert duplicates == len(before_kill) - acknowledged
    resumed = sorted(item.at for item in arrivals() if item.at > restarted_at)
    took = resumed[-1] - resumed[0]
    print(
        f"\nkilled with {len(before_kill)} of 1,000 received ({acknowledged} acknowledged);"
        f" after the restart: start-up {resumed[0] - restarted_at:.2f} s, then"
        f" {len(resumed)} POSTs in {took:.2f} s ({(len(resumed) - 1) / took:.0f}/s);"
        f" POSTs / deliveries = {len(posts) / len(expected):.3f} ({duplicates} duplicates)"
    )
    if cpu_at_first_post is not None and cpu_at_last_post is not None:
        cpu = cpu_at_last_post - cpu_at_first_post
        print(f"server CPU while delivering: {cpu:.2f} s, {1000 * cpu / len(resumed):.2f} ms/POST")
    public_key = load_public_key(pem)
    for receiver in hosts.values():
        receiver.received[-1].verify(public_key, now=utc_now())
        assert json.loads(receiver.received[-1].body)["type"] == "Create"
