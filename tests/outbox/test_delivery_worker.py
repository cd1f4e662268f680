"""The delivery worker against real fake inboxes on loopback.

Time is a FrozenClock driven by the test and `run_once(now)`: nothing sleeps for
backoffs. What the receivers get is checked like a remote server would: the signature
verifies with the sender's public key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from fedserver.appkeys import delivery_worker_key, store_key
from fedserver.db import LocalUser, Store
from fedserver.db.deliveries import HOST_UNAVAILABLE
from fedserver.http import FetchPolicy, HttpClient
from fedserver.ids import IdGenerator, isoformat
from fedserver.keypairs import GeneratedKeyPair, generate_keypairs
from fedserver.signatures import PublicKey, load_private_key, load_public_key
from outbox.delivery import DeliverySettings, plan_inboxes, serialize_activity
from outbox.worker import DeliveryWorker
from tests.conftest import Client, CreateUser, FrozenClock
from tests.fakes.receivers import FakeReceiver, Gauge, Reply, closed_port
from tests.fakes.resolver import FakeResolver

BASE_URL = "http://local.test"
POLICY = FetchPolicy(allow_http=True, allow_private_addresses=True, timeout_seconds=2.0)

Serve = Callable[..., Awaitable[FakeReceiver]]


@pytest.fixture(scope="module")
def keypairs() -> list[GeneratedKeyPair]:
    """One RSA and one Ed25519 pair for the module (RSA generation is slow)."""
    return generate_keypairs()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "fed.sqlite3")
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


@pytest.fixture
def ids(clock: FrozenClock) -> IdGenerator:
    return IdGenerator(clock)


@pytest.fixture
async def alice(
    store: Store, ids: IdGenerator, clock: FrozenClock, keypairs: list[GeneratedKeyPair]
) -> LocalUser:
    """A local sender with keys."""
    return await store.accounts.create_local_user(
        account_id=ids(),
        user_id=ids(),
        username="alice",
        email=None,
        password_hash="scrypt$test",
        is_admin=False,
        approved=True,
        keypairs=[(ids(), k.kind, k.private_key_pem, k.public_key_pem) for k in keypairs],
        now=clock(),
    )


@pytest.fixture
def alice_key(keypairs: list[GeneratedKeyPair]) -> PublicKey:
    [rsa] = [k for k in keypairs if k.kind == "rsa"]
    return load_public_key(rsa.public_key_pem)


@pytest.fixture
async def http(resolver: FakeResolver) -> AsyncIterator[HttpClient]:
    client = HttpClient(POLICY, resolver=resolver)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def make_worker(
    store: Store, http: HttpClient, clock: FrozenClock
) -> Callable[..., DeliveryWorker]:
    def make(**settings: Any) -> DeliveryWorker:
        return DeliveryWorker(
            store,
            http,
            base_url=BASE_URL,
            clock=clock,
            settings=DeliverySettings(**settings),
            rng=random.Random(1),
        )

    return make


@pytest.fixture
def worker(make_worker: Callable[..., DeliveryWorker]) -> DeliveryWorker:
    return make_worker()


@pytest.fixture
def serve(aiohttp_server: AiohttpServer, resolver: FakeResolver) -> Serve:
    """Start a FakeReceiver reachable as http://<name>/."""

    async def start(name: str, *, port: int | None = None, **options: Any) -> FakeReceiver:
        receiver = FakeReceiver(**options)
        server = await aiohttp_server(receiver.app, port=port)
        assert server.port is not None
        resolver.hosts[name] = server.port
        return receiver

    return start


class Queue:
    """Enqueues activities of one sender the way posting code does."""

    def __init__(self, store: Store, ids: IdGenerator, clock: FrozenClock) -> None:
        self.store = store
        self.ids = ids
        self.clock = clock
        self.count = 0

    async def send(
        self,
        inboxes: list[str],
        *,
        sender: int | None,
        status_id: int | None = None,
        activity_id: str | None = None,
    ) -> str:
        self.count += 1
        activity_id = activity_id or f"{BASE_URL}/users/alice/statuses/{self.count}/activity"
        await self.store.deliveries.enqueue_now(
            activity_id=activity_id,
            sender_account_id=sender,
            body=serialize_activity({"id": activity_id, "type": "Create", "n": self.count}),
            inboxes=inboxes,
            status_id=status_id,
            now=self.clock(),
            new_id=self.ids,
        )
        return activity_id


@pytest.fixture
def queue(store: Store, ids: IdGenerator, clock: FrozenClock) -> Queue:
    return Queue(store, ids, clock)


async def only_record(store: Store, activity_id: str) -> Any:
    [record] = await store.deliveries.for_activity(activity_id)
    return record


# -- fan-out ---------------------------------------------------------------------------


async def test_fan_out_posts_once_per_shared_inbox_signed_by_the_sender(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    alice_key: PublicKey,
    clock: FrozenClock,
) -> None:
    """10 followers on 2 hosts with shared inboxes: 2 POSTs, each validly signed."""
    a, b = await serve("a.test"), await serve("b.test")
    followers = [
        (f"http://{host}/users/u{n}/inbox", f"http://{host}/inbox")
        for host in ("a.test", "b.test")
        for n in range(5)
    ]
    inboxes = plan_inboxes(followers)
    activity_id = await queue.send(inboxes, sender=alice.account.id)

    assert await worker.run_once(clock()) == 2
    posts = a.received + b.received
    print(f"\nPOSTs / distinct inboxes = {len(posts) / len(inboxes):.2f}")
    assert len(posts) / len(inboxes) == 1.00
    for post in posts:
        signed = post.verify(alice_key, now=clock())
        assert signed.key_id == f"{BASE_URL}/users/alice#main-key"
        assert post.path == "/inbox"
        assert post.header("Content-Type") == "application/activity+json"
        assert json.loads(post.body)["id"] == activity_id
    assert a.received[0].body == b.received[0].body
    records = await worker._store.deliveries.for_activity(activity_id)
    assert {(r.state, r.attempts, r.last_status) for r in records} == {("delivered", 1, 202)}
    assert await worker.run_once(clock() + timedelta(days=4)) == 0  # never sent again


async def test_instance_actor_deliveries_are_signed_with_its_key(
    serve: Serve,
    store: Store,
    http: HttpClient,
    queue: Queue,
    clock: FrozenClock,
    keypairs: list[GeneratedKeyPair],
    alice_key: PublicKey,
) -> None:
    """Rows with no sender are the instance actor's (here given alice's key pair)."""
    [rsa] = [k for k in keypairs if k.kind == "rsa"]
    worker = DeliveryWorker(
        store,
        http,
        base_url=BASE_URL,
        clock=clock,
        instance_key=load_private_key(rsa.private_key_pem),
    )
    a = await serve("a.test")
    await queue.send(["http://a.test/inbox"], sender=None)
    assert await worker.run_once(clock()) == 1
    signed = a.received[0].verify(alice_key, now=clock())
    assert signed.key_id == f"{BASE_URL}/actor#main-key"


async def test_keys_are_parsed_once_per_sender(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[int | None] = []
    original = store.accounts.keypairs

    async def counting(account_id: int | None) -> Any:
        loads.append(account_id)
        return await original(account_id)

    monkeypatch.setattr(store.accounts, "keypairs", counting)
    a = await serve("a.test")
    for _ in range(3):
        await queue.send(["http://a.test/inbox"], sender=alice.account.id)
        await worker.run_once(clock())
    assert len(a.received) == 3
    assert loads == [alice.account.id]


async def test_a_sender_without_keys_fails_without_sending(
    serve: Serve, worker: DeliveryWorker, queue: Queue, store: Store, clock: FrozenClock
) -> None:
    """The instance actor's keys are loaded from the database when not given; a
    database without them cannot sign, so the row fails and nothing is sent."""
    a = await serve("a.test")
    activity_id = await queue.send(["http://a.test/inbox"], sender=None)
    assert await worker.run_once(clock()) == 1
    record = await only_record(store, activity_id)
    assert (record.state, record.reason, record.attempts) == (
        "failed",
        "the sender has no RSA key to sign with",
        0,
    )
    assert a.received == []


# -- answers ---------------------------------------------------------------------------


async def test_503_with_retry_after_waits_at_least_that_long(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    a = await serve("a.test")
    a.script("/inbox", Reply(503, {"Retry-After": "120"}))
    activity_id = await queue.send(["http://a.test/inbox"], sender=alice.account.id)

    await worker.run_once(clock())
    record = await only_record(store, activity_id)
    assert (record.state, record.attempts, record.last_status) == ("pending", 1, 503)
    assert record.last_error == "503 service unavailable"
    assert record.next_attempt_at >= clock() + timedelta(seconds=120)

    assert await worker.run_once(clock() + timedelta(seconds=119)) == 0
    assert len(a.received) == 1
    await worker.run_once(record.next_attempt_at)
    assert len(a.received) == 2
    assert (await only_record(store, activity_id)).state == "delivered"


@pytest.mark.parametrize(("status", "reason"), [(410, "410 gone"), (404, "404 not found")])
async def test_gone_and_not_found_fail_at_once_and_are_never_retried(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    status: int,
    reason: str,
) -> None:
    a = await serve("a.test", default=Reply(status))
    activity_id = await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    await worker.run_once(clock())
    record = await only_record(store, activity_id)
    assert (record.state, record.reason, record.last_status, record.attempts) == (
        "failed",
        reason,
        status,
        1,
    )
    for days in (1, 2, 5):
        assert await worker.run_once(clock() + timedelta(days=days)) == 0
    assert len(a.received) == 1
    assert await store.deliveries.hosts_with_failures() == set()  # the host answered


async def test_401_is_retried(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    """A receiver that has not cached our key yet may answer 401 once."""
    a = await serve("a.test")
    a.script("/inbox", Reply(401))
    activity_id = await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    await worker.run_once(clock())
    record = await only_record(store, activity_id)
    assert (record.state, record.last_status) == ("pending", 401)
    await worker.run_once(record.next_attempt_at)
    assert (await only_record(store, activity_id)).state == "delivered"
    assert len(a.received) == 2


async def test_401_is_given_up_after_three_attempts(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    """A key the receiver keeps refusing is not retried for days (SECURITY.md 28)."""
    a = await serve("a.test", default=Reply(401))
    activity_id = await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    now = clock()
    for _ in range(3):
        assert await worker.run_once(now) == 1
        record = await only_record(store, activity_id)
        now = record.next_attempt_at
    assert (record.state, record.attempts, record.last_status, record.reason) == (
        "failed",
        3,
        401,
        "gave up after 3 attempts: 401 unauthorized",
    )
    assert await worker.run_once(now + timedelta(days=3)) == 0
    assert len(a.received) == 3


async def test_a_down_host_is_retried_with_growing_delays_then_given_up(
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    resolver: FakeResolver,
) -> None:
    resolver.hosts["down.test"] = closed_port()
    activity_id = await queue.send(["http://down.test/inbox"], sender=alice.account.id)
    start = now = clock()
    delays = []
    for attempt in range(1, 17):
        assert await worker.run_once(now) == 1
        record = await only_record(store, activity_id)
        assert record.attempts == attempt
        if attempt < 16:
            assert record.state == "pending"
            delays.append((record.next_attempt_at - now).total_seconds())
            now = record.next_attempt_at
    assert record.state == "failed"
    assert record.reason is not None
    assert record.reason.startswith("gave up after 16 attempts: POST http://down.test/inbox")
    assert record.last_status is None
    assert all(n**4 + 15 <= delay for n, delay in enumerate(delays, start=1))
    assert delays[-1] > delays[0] * 1000
    span = (now - start).total_seconds() / 86_400
    print(f"\ndown host: 16 attempts over {span:.2f} days")
    assert 2.0 < span < 3.2
    assert await worker.run_once(now + timedelta(days=30)) == 0
    # Three failure days over that span: below Mastodon's threshold of seven.
    health = await store.deliveries.host_health("down.test")
    assert health is not None
    assert not health.unavailable


async def test_a_host_failing_on_seven_days_is_skipped_until_marked_available(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    resolver: FakeResolver,
) -> None:
    port = closed_port()
    resolver.hosts["flaky.test"] = port
    inbox = "http://flaky.test/inbox"
    for _day in range(7):
        await queue.send([inbox], sender=alice.account.id)
        await worker.run_once(clock())
        clock.advance(days=1)
    assert await store.deliveries.is_unavailable("flaky.test")
    # The rows still waiting for a retry were skipped when the host became unavailable.
    summary = await store.deliveries.summary()
    assert (summary.pending, summary.skipped) == (0, 7)
    assert [h.host for h in summary.unavailable] == ["flaky.test"]

    # New deliveries are skipped without a connection attempt.
    # It is back (on the same address: the client caches DNS), but we do not know yet.
    receiver = await serve("flaky.test", port=port)
    skipped = await queue.send([inbox], sender=alice.account.id)
    assert await worker.run_once(clock()) == 1
    record = await only_record(store, skipped)
    assert (record.state, record.reason, record.attempts) == ("skipped", HOST_UNAVAILABLE, 0)
    assert receiver.received == []

    # It sends us a signed request: the inbox clears the mark.
    assert await store.deliveries.mark_available("flaky.test")
    delivered = await queue.send([inbox], sender=alice.account.id)
    await worker.run_once(clock())
    assert (await only_record(store, delivered)).state == "delivered"
    assert len(receiver.received) == 1


async def test_a_successful_delivery_clears_the_failure_days(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    a = await serve("a.test")
    a.script("/inbox", Reply(502))
    activity_id = await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    await worker.run_once(clock())
    assert await store.deliveries.hosts_with_failures() == {"a.test"}
    await worker.run_once((await only_record(store, activity_id)).next_attempt_at)
    assert await store.deliveries.hosts_with_failures() == set()


async def test_circuit_breaker_opens_after_ten_consecutive_failures(
    serve: Serve,
    make_worker: Callable[..., DeliveryWorker],
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    worker = make_worker(per_host_concurrency=1)
    a = await serve("a.test", default=Reply(500))
    for _ in range(12):
        await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    await worker.run_until_idle(clock())
    assert len(a.received) == 10  # then the breaker opened: no more attempts
    untried = await store.deliveries.due(clock() + timedelta(seconds=60), 20)
    assert len([row for row in untried if row.attempts == 0]) == 2
    # Postponed to the end of the cool-off, without counting an attempt.
    not_yet = await store.deliveries.due(clock() + timedelta(seconds=59), 20)
    assert [row for row in not_yet if row.attempts == 0] == []
    # Retries due during the cool-off are postponed too, not attempted.
    await worker.run_until_idle(clock() + timedelta(seconds=59))
    assert len(a.received) == 10

    # After the cool-off, one trial: it fails, and the breaker opens again.
    await worker.run_until_idle(clock() + timedelta(seconds=60))
    assert len(a.received) == 11
    # The next trial succeeds: the breaker closes and everything goes out.
    a.default = Reply(202)
    await worker.run_until_idle(clock() + timedelta(seconds=120))
    assert len(a.received) == 23
    assert await store.deliveries.count("delivered") == 12


async def test_per_host_and_global_concurrency_limits(
    serve: Serve,
    make_worker: Callable[..., DeliveryWorker],
    queue: Queue,
    alice: LocalUser,
    clock: FrozenClock,
) -> None:
    worker = make_worker(per_host_concurrency=2, concurrency=3)
    total = Gauge()
    hosts = [await serve(f"h{n}.test", latency=0.02, gauges=(total,)) for n in range(3)]
    for _ in range(6):
        await queue.send([f"http://h{n}.test/inbox" for n in range(3)], sender=alice.account.id)
    assert await worker.run_until_idle(clock()) == 18
    assert [len(host.received) for host in hosts] == [6, 6, 6]
    assert total.peak == 3
    assert max(host.concurrency.peak for host in hosts) == 2


class ConnectionCounter:
    """An inbox host that answers 202 after `latency` and counts the connections its
    POSTs came on (a keep-alive connection carries several)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.connections: set[int] = set()
        self.posts = 0
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self._inbox)

    async def _inbox(self, request: web.Request) -> web.Response:
        await request.read()
        self.connections.add(id(request.protocol))
        self.posts += 1
        await asyncio.sleep(self.latency)
        return web.Response(status=202)


async def test_one_connection_per_host_carries_all_its_deliveries(
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    clock: FrozenClock,
) -> None:
    """A host without a shared inbox, with 8 followers: 8 POSTs, one after another on
    one keep-alive connection (the default per-host concurrency is 1)."""
    host = ConnectionCounter(latency=0.01)
    server = await aiohttp_server(host.app)
    assert server.port is not None
    resolver.hosts["many.test"] = server.port
    inboxes = [f"http://many.test/users/u{n}/inbox" for n in range(8)]
    await queue.send(inboxes, sender=alice.account.id)
    assert await worker.run_until_idle(clock()) == 8
    assert host.posts == 8
    assert len(host.connections) == 1


async def test_a_host_that_never_answers_does_not_keep_the_slots(
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    serve: Serve,
    make_worker: Callable[..., DeliveryWorker],
    queue: Queue,
    alice: LocalUser,
    store: Store,
) -> None:
    """With one slot, a POST to a host that accepts and never answers stops counting
    once it is slow: the live host's delivery goes out while it still hangs."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=202)

    dead = web.Application()
    dead.router.add_post("/{tail:.*}", hang)
    dead_server = await aiohttp_server(dead)
    assert dead_server.port is not None
    resolver.hosts["dead.test"] = dead_server.port
    live = await serve("live.test")
    worker = make_worker(concurrency=1, slow_after_seconds=0.05)
    await queue.send(["http://dead.test/inbox"], sender=alice.account.id)
    await queue.send(["http://live.test/inbox"], sender=alice.account.id)
    worker.start()
    try:
        await wait_for(lambda: len(live.received) == 1 and worker.in_flight == 1)
        assert worker.slow == 1  # the dead host's POST, still unanswered
        assert await store.deliveries.count("delivered") == 1
    finally:
        release.set()
        await worker.stop()
    assert await store.deliveries.count("delivered") == 2


async def test_no_answer_postpones_the_hosts_other_rows_without_trying_them(
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    resolver: FakeResolver,
) -> None:
    """Three deliveries to a host that refuses connections: one is tried; the others
    wait with it for its retry, no attempt counted, rather than failing one by one."""
    resolver.hosts["down.test"] = closed_port()
    inboxes = [f"http://down.test/users/u{n}/inbox" for n in range(3)]
    activity_id = await queue.send(inboxes, sender=alice.account.id)
    assert await worker.run_once(clock()) == 3
    records = await store.deliveries.for_activity(activity_id)
    [tried] = [r for r in records if r.attempts == 1]
    waiting = [r for r in records if r.attempts == 0]
    assert len(waiting) == 2
    assert tried.last_error is not None
    assert "failed" in tried.last_error
    for record in waiting:
        assert record.state == "pending"
        assert record.next_attempt_at == tried.next_attempt_at
        assert record.last_error == f"not tried: another delivery got {tried.last_error}"
    assert await worker.run_once(tried.next_attempt_at - timedelta(seconds=1)) == 0
    # At the retry, again one attempt (the same row: first in the queue) and the rest
    # postponed together.
    assert await worker.run_once(tried.next_attempt_at) == 3
    records = await store.deliveries.for_activity(activity_id)
    assert sorted(r.attempts for r in records) == [0, 0, 2]


async def test_outcomes_finishing_together_share_a_transaction(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    original = store.deliveries.record_attempts

    async def counting(results: Any, now: Any) -> None:
        batches.append(len(results))
        await original(results, now)

    monkeypatch.setattr(store.deliveries, "record_attempts", counting)
    for n in range(10):
        await serve(f"h{n}.test", latency=0.05)
    await queue.send([f"http://h{n}.test/inbox" for n in range(10)], sender=alice.account.id)
    assert await worker.run_once(clock()) == 10
    assert sum(batches) == 10
    assert len(batches) < 10
    assert await store.deliveries.count("delivered") == 10


async def test_one_hosts_backlog_does_not_hold_up_the_others(
    serve: Serve,
    make_worker: Callable[..., DeliveryWorker],
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    """A claim leaves out hosts whose ready buffer is full, so a row queued behind a
    slow host's backlog goes out at once, not after it."""
    worker = make_worker(per_host_concurrency=1, claim_window=8)
    big, small = await serve("big.test", latency=0.3), await serve("small.test")
    for _ in range(40):
        await queue.send(["http://big.test/inbox"], sender=alice.account.id)
    await queue.send(["http://small.test/inbox"], sender=alice.account.id)
    worker.start()
    try:
        await wait_for(lambda: len(small.received) == 1, seconds=1.0)
        assert len(big.received) == 1
    finally:
        await worker.stop()


async def test_per_status_report(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    ids: IdGenerator,
    clock: FrozenClock,
) -> None:
    status_id = ids()
    async with store.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO statuses (id, account_id, visibility, created_at) VALUES (?, ?, ?, ?)",
            (status_id, alice.account.id, "public", isoformat(clock())),
        )
    await serve("ok.test")
    await serve("gone.test", default=Reply(410))
    await serve("busy.test", default=Reply(503))
    inboxes = ["http://ok.test/inbox", "http://gone.test/inbox", "http://busy.test/inbox"]
    await queue.send(inboxes, sender=alice.account.id, status_id=status_id)
    await worker.run_once(clock())
    report = {
        r.host: (r.state, r.attempts, r.last_status, r.reason or r.last_error)
        for r in await store.deliveries.for_status(status_id)
    }
    assert report == {
        "ok.test": ("delivered", 1, 202, None),
        "gone.test": ("failed", 1, 410, "410 gone"),
        "busy.test": ("pending", 1, 503, "503 service unavailable"),
    }


# -- the background loop ---------------------------------------------------------------


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll a condition about receivers and the worker (both are plain objects)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - nothing to wait on but the condition
            await asyncio.sleep(0.01)


async def test_the_app_runs_the_worker_and_wake_delivers_at_once(
    app_client: Client, make_user: CreateUser, serve: Serve, clock: FrozenClock
) -> None:
    """Through the real create_app: an enqueue followed by wake() is delivered promptly."""
    app = app_client.app
    alice = await make_user("alice")
    a = await serve("a.test")
    store = app[store_key]
    await store.deliveries.enqueue_now(
        activity_id="http://local.test/users/alice/statuses/1/activity",
        sender_account_id=alice.account.id,
        body=serialize_activity({"id": "http://local.test/users/alice/statuses/1/activity"}),
        inboxes=["http://a.test/inbox"],
        status_id=None,
        now=clock(),
        new_id=IdGenerator(clock),
    )
    app[delivery_worker_key].wake()
    await wait_for(lambda: len(a.received) == 1, seconds=2.0)
    public = load_public_key(
        (await store.accounts.keypairs(alice.account.id))["rsa"].public_key_pem
    )
    a.received[0].verify(public, now=clock())
    await wait_for(lambda: app[delivery_worker_key].in_flight == 0)
    assert await store.deliveries.count("delivered") == 1


async def test_stop_lets_in_flight_posts_finish(
    serve: Serve, worker: DeliveryWorker, queue: Queue, alice: LocalUser, store: Store
) -> None:
    a = await serve("a.test", latency=0.3)
    worker.start()
    try:
        await queue.send(["http://a.test/inbox"], sender=alice.account.id)
        worker.wake()
        await wait_for(lambda: len(a.received) == 1)
    finally:
        await worker.stop()
    assert await store.deliveries.count("delivered") == 1


async def test_stop_after_the_grace_period_leaves_the_row_pending(
    serve: Serve,
    make_worker: Callable[..., DeliveryWorker],
    queue: Queue,
    alice: LocalUser,
    store: Store,
    clock: FrozenClock,
) -> None:
    worker = make_worker(shutdown_grace_seconds=0.05)
    a = await serve("a.test", latency=1.0)
    worker.start()
    try:
        await queue.send(["http://a.test/inbox"], sender=alice.account.id)
        worker.wake()
        await wait_for(lambda: len(a.received) == 1)
    finally:
        await worker.stop()
    [row] = await store.deliveries.due(clock(), 10)
    assert row.attempts == 0  # left exactly as it was: sent again after the restart


async def test_the_loop_survives_errors(
    serve: Serve,
    worker: DeliveryWorker,
    queue: Queue,
    alice: LocalUser,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = store.deliveries.due
    failures = [RuntimeError("database is locked")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(*args, **kwargs)

    monkeypatch.setattr(store.deliveries, "due", flaky)
    a = await serve("a.test")
    await queue.send(["http://a.test/inbox"], sender=alice.account.id)
    with caplog.at_level(logging.ERROR, logger="outbox.worker"):
        worker.start()
        try:
            await wait_for(lambda: len(a.received) == 1)
        finally:
            await worker.stop()
    assert "claiming due deliveries failed" in caplog.text
