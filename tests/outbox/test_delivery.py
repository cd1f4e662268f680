"""Delivery policy (pure) and the delivery queue's data layer, plus `fedserver deliveries`.

The policy: inbox planning with shared-inbox dedup, the retry schedule, what each answer
means, the circuit breaker. The data layer: enqueue inside a caller's transaction
(rolled back with it), idempotency, host health, per-post reports and the operator summary.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from fedserver.cli import main
from fedserver.config import ConfigError, parse_config
from fedserver.db import Store
from fedserver.db.deliveries import HOST_UNAVAILABLE, delivery_host
from fedserver.errors import FetchError, FetchRefused
from fedserver.http import DeliveryResult
from fedserver.ids import IdGenerator, isoformat
from outbox.delivery import (
    CircuitBreakers,
    DeliverySettings,
    Verdict,
    classify,
    classify_error,
    next_attempt_delay,
    plan_inboxes,
    serialize_activity,
)
from tests.conftest import START, FrozenClock

ACTIVITY = "https://local.test/users/alice/statuses/1/activity"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on a fresh file, closed after the test."""
    store = await Store.open(tmp_path / "fed.sqlite3")
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


@pytest.fixture
def ids(clock: FrozenClock) -> IdGenerator:
    return IdGenerator(clock)


async def enqueue(
    store: Store,
    ids: IdGenerator,
    inboxes: list[str],
    *,
    activity_id: str = ACTIVITY,
    status_id: int | None = None,
    sender: int | None = None,
) -> int:
    return await store.deliveries.enqueue_now(
        activity_id=activity_id,
        sender_account_id=sender,
        body=serialize_activity({"id": activity_id, "type": "Create"}),
        inboxes=inboxes,
        status_id=status_id,
        now=START,
        new_id=ids,
    )


async def add_status(store: Store, ids: IdGenerator) -> int:
    """A local account with one status (rows the per-post report hangs on)."""
    account_id, status_id = ids(), ids()
    stamp = isoformat(START)
    async with store.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO accounts (id, username, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (account_id, "alice", stamp, stamp),
        )
        await tx.execute(
            "INSERT INTO statuses (id, account_id, visibility, created_at) VALUES (?, ?, ?, ?)",
            (status_id, account_id, "public", stamp),
        )
    return status_id


# -- planning --------------------------------------------------------------------------


def test_ten_recipients_on_two_hosts_with_shared_inboxes_make_two_inboxes() -> None:
    recipients = [
        (f"https://{host}/users/u{n}/inbox", f"https://{host}/inbox")
        for host in ("a.test", "b.test")
        for n in range(5)
    ]
    assert plan_inboxes(recipients) == ["https://a.test/inbox", "https://b.test/inbox"]


def test_personal_inboxes_are_used_without_a_shared_inbox_and_never_twice() -> None:
    recipients = [
        ("https://a.test/users/1/inbox", None),
        ("https://a.test/users/2/inbox", ""),
        ("https://a.test/users/1/inbox", None),  # mentioned and a follower
        ("https://b.test/users/3/inbox", "https://b.test/inbox"),
        ("https://b.test/users/4/inbox", "https://b.test/inbox"),
    ]
    planned = plan_inboxes(recipients)
    assert planned == [
        "https://a.test/users/1/inbox",
        "https://a.test/users/2/inbox",
        "https://b.test/inbox",
    ]
    assert len(planned) == len(set(planned))


def test_planning_drops_missing_invalid_and_own_inboxes() -> None:
    recipients = [
        (None, None),
        ("ftp://a.test/inbox", None),
        ("not a url", None),
        ("https://local.test/users/bob/inbox", None),
        ("https://b.test/inbox", None),
    ]
    assert plan_inboxes(recipients, skip_hosts=["LOCAL.test"]) == ["https://b.test/inbox"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Social.Example/inbox", "social.example"),
        ("https://social.example:443/inbox", "social.example"),
        ("http://social.example:80/inbox", "social.example"),
        ("http://127.0.0.1:8081/inbox/1", "127.0.0.1:8081"),
        ("https://[2001:db8::1]:8443/inbox", "[2001:db8::1]:8443"),
        ("mailto:someone@example.com", ""),
        ("https://a.test:99999/inbox", ""),
    ],
)
def test_delivery_host_is_the_origin_authority(url: str, host: str) -> None:
    assert delivery_host(url) == host


# -- retry schedule --------------------------------------------------------------------


def test_sixteen_attempts_span_two_to_three_days() -> None:
    """15 waits between 16 attempts: 49.6 h before jitter; 2.07 to 3.1 days with it."""
    settings = DeliverySettings()
    waits = settings.max_attempts - 1
    low = sum(next_attempt_delay(n, _Fixed(0.0)) for n in range(1, waits + 1))
    high = sum(next_attempt_delay(n, _Fixed(0.999999)) for n in range(1, waits + 1))
    rng = random.Random(4)
    typical = sum(next_attempt_delay(n, rng) for n in range(1, waits + 1))
    day = 86_400
    print(
        f"\n16 attempts span: min {low / day:.2f} days, typical {typical / day:.2f} days,"
        f" max {high / day:.2f} days"
    )
    assert 2.0 * day < low < typical < high < 3.2 * day


def test_delays_follow_n4_plus_15_with_bounded_jitter() -> None:
    """Jitter spreads retries (up to +50% of n**4), so two retries of a fan-out that
    failed together do not hit the host at the same second again."""
    rng = random.Random(7)
    for attempt in range(1, 16):
        delays = {next_attempt_delay(attempt, rng) for _ in range(20)}
        assert all(attempt**4 + 15 <= delay < attempt**4 * 1.5 + 15 for delay in delays)
        assert len(delays) == 20


def test_retry_after_is_a_floor_capped_at_a_day() -> None:
    rng = random.Random(1)
    assert next_attempt_delay(1, rng, retry_after=120) == 120.0
    assert next_attempt_delay(12, rng, retry_after=120) > 12**4  # backoff already longer
    assert next_attempt_delay(1, rng, retry_after=30 * 86_400) == 86_400.0
    assert next_attempt_delay(1, rng, retry_after=-5) < 20


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        next_attempt_delay(0, random.Random())


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


# -- classification --------------------------------------------------------------------


def result(status: int, retry_after: float | None = None) -> DeliveryResult:
    return DeliveryResult(status, retry_after, "", "https://a.test/inbox", "cavage")


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert classify(result(status)).verdict is Verdict.DELIVERED


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "400 bad request"),
        (403, "403 forbidden"),
        (404, "404 not found"),
        (410, "410 gone"),
        (413, "413 request entity too large"),
        (422, "422 unprocessable entity"),
        (501, "501 not implemented"),
    ],
)
def test_unsalvageable_answers_are_given_up_with_a_reason(status: int, reason: str) -> None:
    outcome = classify(result(status))
    assert (outcome.verdict, outcome.reason, outcome.status) == (Verdict.GIVE_UP, reason, status)
    assert not outcome.host_failure


@pytest.mark.parametrize(
    ("status", "host_failure"),
    [(401, False), (408, True), (429, False), (500, True), (502, True), (503, True), (302, False)],
)
def test_retryable_answers_are_retried(status: int, host_failure: bool) -> None:
    outcome = classify(result(status, retry_after=120.0))
    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_after == 120.0
    assert outcome.host_failure is host_failure


def test_connection_failures_are_retried_and_count_against_the_host() -> None:
    outcome = classify_error(FetchError("POST https://a.test/inbox failed: connection refused"))
    assert (outcome.verdict, outcome.status, outcome.host_failure) == (Verdict.RETRY, None, True)
    assert "connection refused" in outcome.reason


def test_policy_refusals_are_given_up() -> None:
    outcome = classify_error(FetchRefused("refused: 10.0.0.1 is a private address"))
    assert outcome.verdict is Verdict.GIVE_UP
    assert not outcome.host_failure


# -- circuit breaker -------------------------------------------------------------------


def test_breaker_opens_after_ten_failures_then_half_opens_then_closes() -> None:
    breakers = CircuitBreakers(10, timedelta(seconds=60))
    opened = [breakers.record_failure("a.test", START) for _ in range(10)]
    assert opened == [False] * 9 + [True]
    assert breakers.host_limit("a.test", START + timedelta(seconds=59), 4) == 0
    assert breakers.host_limit("b.test", START, 4) == 4
    assert breakers.host_limit("a.test", START + timedelta(seconds=60), 4) == 1  # a trial
    assert breakers.record_failure("a.test", START + timedelta(seconds=60))  # reopens
    assert breakers.host_limit("a.test", START + timedelta(seconds=119), 4) == 0
    breakers.record_success("a.test")
    assert breakers.host_limit("a.test", START + timedelta(seconds=119), 4) == 4


def test_breaker_map_is_bounded() -> None:
    breakers = CircuitBreakers(1, timedelta(seconds=60), max_hosts=3)
    for n in range(5):
        breakers.record_failure(f"h{n}.test", START)
    assert breakers.open_until("h0.test") is None
    assert breakers.open_until("h4.test") is not None


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="concurrency must be positive"):
        DeliverySettings(concurrency=0)


# -- the queue's data layer ------------------------------------------------------------


async def test_enqueue_in_a_rolled_back_transaction_leaves_no_rows(
    store: Store, ids: IdGenerator
) -> None:
    """A post and its deliveries commit together or not at all."""

    class PostFailed(Exception):
        pass

    async def post_then_fail() -> None:
        async with store.db.transaction() as tx:
            await store.deliveries.enqueue(
                tx,
                activity_id=ACTIVITY,
                sender_account_id=None,
                body="{}",
                inboxes=["https://a.test/inbox", "https://b.test/inbox"],
                status_id=None,
                now=START,
                new_id=ids,
            )
            written = await tx.fetch_one("SELECT count(*) FROM deliveries")
            assert written is not None
            assert written[0] == 2
            raise PostFailed

    with pytest.raises(PostFailed):
        await post_then_fail()
    assert await store.deliveries.count() == 0
    assert await store.db.fetch_value("SELECT count(*) FROM outgoing_activities") == 0


async def test_enqueue_is_idempotent_and_stores_the_body_once(
    store: Store, ids: IdGenerator
) -> None:
    first = await enqueue(store, ids, ["https://a.test/inbox", "https://a.test/inbox"])
    again = await enqueue(store, ids, ["https://a.test/inbox", "https://b.test/inbox"])
    assert first == again
    assert await store.db.fetch_value("SELECT count(*) FROM outgoing_activities") == 1
    records = await store.deliveries.for_activity(ACTIVITY)
    assert [(r.inbox_url, r.host, r.state) for r in records] == [
        ("https://a.test/inbox", "a.test", "pending"),
        ("https://b.test/inbox", "b.test", "pending"),
    ]


async def test_an_invalid_inbox_is_stored_failed_not_refused(
    store: Store, ids: IdGenerator
) -> None:
    await enqueue(store, ids, ["javascript:alert(1)", "https://a.test/inbox"])
    states = {
        r.inbox_url: (r.state, r.reason) for r in await store.deliveries.for_activity(ACTIVITY)
    }
    assert states == {
        "javascript:alert(1)": ("failed", "invalid inbox URL"),
        "https://a.test/inbox": ("pending", None),
    }
    assert [row.inbox_url for row in await store.deliveries.due(START, 10)] == [
        "https://a.test/inbox"
    ]


async def test_due_rows_wait_for_their_time(store: Store, ids: IdGenerator) -> None:
    await enqueue(store, ids, ["https://a.test/inbox"])
    [row] = await store.deliveries.due(START, 10)
    later = START + timedelta(minutes=2)
    await store.deliveries.reschedule(row.id, next_at=later, status=503, error="503", now=START)
    assert await store.deliveries.due(later - timedelta(microseconds=1), 10) == []
    [again] = await store.deliveries.due(later, 10)
    assert (again.id, again.attempts, again.activity_id) == (row.id, 1, ACTIVITY)


async def test_seven_failure_days_make_a_host_unavailable_and_skip_its_rows(
    store: Store, ids: IdGenerator
) -> None:
    await enqueue(store, ids, ["https://down.test/inbox", "https://up.test/inbox"])
    day = date(2026, 11, 1)
    became = [
        await store.deliveries.record_failure(
            "down.test", day + timedelta(days=n), unavailable_after_days=7, now=START
        )
        for n in range(6)
    ]
    # The same day twice counts once.
    became.append(
        await store.deliveries.record_failure("down.test", day, unavailable_after_days=7, now=START)
    )
    assert not any(became)
    assert not await store.deliveries.is_unavailable("down.test")
    assert await store.deliveries.record_failure(
        "down.test", day + timedelta(days=6), unavailable_after_days=7, now=START
    )
    assert await store.deliveries.is_unavailable("down.test")
    assert await store.deliveries.unavailable_among(["down.test", "up.test"]) == {"down.test"}
    states = {r.host: (r.state, r.reason) for r in await store.deliveries.for_activity(ACTIVITY)}
    assert states == {"down.test": ("skipped", HOST_UNAVAILABLE), "up.test": ("pending", None)}

    assert await store.deliveries.mark_available("down.test")
    assert not await store.deliveries.is_unavailable("down.test")
    assert await store.deliveries.host_health("down.test") is None
    assert not await store.deliveries.mark_available("down.test")  # nothing left to clear


async def test_a_success_clears_the_failure_days(store: Store) -> None:
    await store.deliveries.record_failure(
        "a.test", date(2026, 11, 1), unavailable_after_days=7, now=START
    )
    assert await store.deliveries.hosts_with_failures() == {"a.test"}
    assert await store.deliveries.record_success("a.test")
    assert await store.deliveries.hosts_with_failures() == set()


async def test_per_status_report_and_summary(store: Store, ids: IdGenerator) -> None:
    status_id = await add_status(store, ids)
    await enqueue(
        store,
        ids,
        ["https://a.test/inbox", "https://b.test/inbox", "https://c.test/inbox"],
        status_id=status_id,
    )
    await enqueue(store, ids, ["https://c.test/inbox"], activity_id=ACTIVITY + "-2")
    rows = {
        row.host: row
        for row in await store.deliveries.due(START, 10)
        if row.activity_id == ACTIVITY
    }
    await store.deliveries.mark_delivered(rows["a.test"].id, status=202, now=START)
    await store.deliveries.mark_failed(
        rows["b.test"].id, reason="410 gone", status=410, error="410 gone", now=START
    )
    retry_at = START + timedelta(seconds=16)
    await store.deliveries.reschedule(
        rows["c.test"].id, next_at=retry_at, status=503, error="503 service unavailable", now=START
    )

    report = {r.host: r for r in await store.deliveries.for_status(status_id)}
    assert {host: (r.state, r.attempts, r.last_status, r.reason) for host, r in report.items()} == {
        "a.test": ("delivered", 1, 202, None),
        "b.test": ("failed", 1, 410, "410 gone"),
        "c.test": ("pending", 1, 503, None),
    }
    assert report["c.test"].last_error == "503 service unavailable"
    assert report["c.test"].next_attempt_at == retry_at

    summary = await store.deliveries.summary()
    assert (summary.pending, summary.delivered, summary.failed, summary.skipped) == (2, 1, 1, 0)
    assert [(h.host, h.pending, h.failed, h.next_attempt_at) for h in summary.hosts] == [
        ("c.test", 2, 0, START),
        ("b.test", 0, 1, None),
    ]


# -- fedserver deliveries --------------------------------------------------------------


def test_cli_deliveries_summary_and_per_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "fedserver.toml"
    config_file.write_text(
        '[instance]\ndomain = "cli.test"\nbase_url = "http://cli.test"\n'
        '[database]\npath = "cli.sqlite3"\n'
    )
    ids = IdGenerator(FrozenClock())

    async def fill() -> int:
        store = await Store.open(tmp_path / "cli.sqlite3")
        try:
            await store.migrate()
            status_id = await add_status(store, ids)
            await enqueue(
                store, ids, ["https://a.test/inbox", "https://b.test/inbox"], status_id=status_id
            )
            due = {row.host: row for row in await store.deliveries.due(START, 10)}
            await store.deliveries.mark_failed(
                due["b.test"].id, reason="410 gone", status=410, error="410 gone", now=START
            )
            for n in range(7):
                await store.deliveries.record_failure(
                    "down.test", date(2026, 11, 1 + n), unavailable_after_days=7, now=START
                )
            return status_id
        finally:
            await store.close()

    status_id = asyncio.run(fill())

    assert main(["--config", str(config_file), "deliveries"]) == 0
    out = capsys.readouterr().out
    assert "deliveries: 1 pending, 0 delivered, 1 failed, 0 skipped" in out
    assert f"a.test\t1 pending\t0 failed\tnext {isoformat(START)}" in out
    assert "b.test\t0 pending\t1 failed\tnext -" in out
    assert "down.test\tsince" in out

    assert main(["--config", str(config_file), "deliveries", "--status", str(status_id)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"https://a.test/inbox\tpending\tattempts 0\tlast status -\tnext {isoformat(START)}",
        "https://b.test/inbox\tfailed\tattempts 1\tlast status 410\t410 gone",
    ]

    assert main(["--config", str(config_file), "deliveries", "--status", "12345"]) == 0
    assert capsys.readouterr().out == "no deliveries for status 12345\n"


def test_delivery_config_keys_are_validated_by_name() -> None:
    """[delivery] durations that cannot be 0 are refused with their key named."""
    data = {
        "instance": {"domain": "example.com"},
        "database": {"path": "fed.sqlite3"},
        "delivery": {
            "slow_after_seconds": 0,
            "connect_timeout_seconds": -1.0,
            "unauthorized_max_attempts": 0,
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    problems = str(caught.value)
    for key in ("slow_after_seconds", "connect_timeout_seconds", "unauthorized_max_attempts"):
        assert f"delivery.{key}: must be greater than 0" in problems
    config = parse_config({**data, "delivery": {}})
    assert (config.delivery.per_host_concurrency, config.delivery.unauthorized_max_attempts) == (
        1,
        3,
    )
