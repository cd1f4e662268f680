"""DomainPolicy: verdicts, and the per-host cache of them (emptied when the blocks change)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from fedserver import app as app_module
from fedserver import domains
from fedserver.domains import DomainPolicy

HOSTS = [
    "example.com", "social.example.com", "EXAMPLE.com.", " example.com ", "example.org",
    "deep.sub.example.org", "other.test", "a.other.test", "nope", "", "xn--bcher-kva.example",
]  # fmt: skip
URLS = [f"https://{host}/users/a" for host in HOSTS if host.strip() == host] + [
    "https://user@Example.COM:443/x",
    "https:///nohost",
    "not a url",
    "https://[::1]/",
]


def uncached(policy: DomainPolicy, host: str) -> bool:
    return policy._decide(domains.normalise(host))


def test_blocklist_and_allowlist_verdicts() -> None:
    policy = DomainPolicy(["example.com"])
    assert policy.is_blocked("example.com")
    assert policy.is_blocked("Social.Example.COM.")
    assert not policy.is_blocked("example.org")
    assert policy.is_url_blocked("https://x.example.com/users/a")
    assert policy.is_url_blocked("https:///no-host")  # no host: refused
    allow = DomainPolicy([], ["example.org"])
    assert allow.allowed == frozenset({"example.org"})
    assert not allow.is_blocked("deep.sub.example.org")
    assert allow.is_blocked("example.com")


def test_a_stored_block_applies_to_hosts_already_asked_about() -> None:
    policy = DomainPolicy(["configured.test"])
    assert not policy.is_url_blocked("https://social.example.com/users/a")  # cached: allowed
    assert not policy.is_blocked("example.com")
    policy.set_stored_blocks(["example.com"])
    assert policy.is_url_blocked("https://social.example.com/users/a")
    assert policy.is_blocked("example.com")
    policy.set_stored_blocks([])  # unblocked
    assert not policy.is_url_blocked("https://social.example.com/users/a")
    assert not policy.is_blocked("example.com")
    assert policy.is_blocked("configured.test")  # the configured blocks stay


def test_the_cache_is_kept_while_the_blocks_do_not_change() -> None:
    policy = DomainPolicy([])
    policy.set_stored_blocks(["example.org"])
    policy.is_blocked("example.com")
    cache = policy._verdicts
    policy.set_stored_blocks(["EXAMPLE.org"])  # the same blocks, spelt differently
    assert policy._verdicts is cache
    policy.set_stored_blocks(["example.org", "example.com"])
    assert policy._verdicts is not cache
    assert policy.is_blocked("example.com")


def test_cached_verdicts_equal_uncached_ones_through_random_changes() -> None:
    rng = random.Random(7)
    for allowed in (None, ["example.org", "other.test"]):
        policy = DomainPolicy(["nope"], allowed)
        for _ in range(2_000):
            if rng.random() < 0.05:
                policy.set_stored_blocks(rng.sample(HOSTS, rng.randint(0, 3)))
            host = rng.choice(HOSTS)
            assert policy.is_blocked(host) == uncached(policy, host)
            url = rng.choice(URLS)
            fresh = DomainPolicy(["nope"], allowed)
            fresh.set_stored_blocks(policy._stored)
            assert policy.is_url_blocked(url) == fresh.is_url_blocked(url)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domains, "MAX_CACHED_VERDICTS", 10)
    policy = DomainPolicy(["blocked.test"])
    for i in range(35):
        assert not policy.is_blocked(f"host{i}.example")
        assert len(policy._verdicts) <= 10
    long_host = "a" * 300 + ".blocked.test"
    assert policy.is_blocked(long_host)
    assert long_host not in policy._verdicts  # longer than a DNS name: never kept


class FakeDomainBlocks:
    def __init__(self) -> None:
        self.domains: list[str] = []

    async def all(self) -> list[tuple[str, Any]]:
        return [(domain, None) for domain in self.domains]


class FakeStore:
    def __init__(self) -> None:
        self.domain_blocks = FakeDomainBlocks()


async def test_the_running_reloader_drops_cached_verdicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`fedserver domain block` while the server runs: the reloader task of app.py
    replaces the stored blocks on the policy the server uses, and a host whose verdict
    was cached as allowed is refused from then on (and allowed again after unblock)."""
    monkeypatch.setattr(app_module, "DOMAIN_BLOCK_RELOAD_SECONDS", 0.001)
    store = FakeStore()
    policy = DomainPolicy([])
    assert not policy.is_url_blocked("https://spam.example/users/a#main-key")
    task = asyncio.create_task(app_module._reload_domain_blocks(store, policy))  # type: ignore[arg-type]
    try:
        store.domain_blocks.domains = ["spam.example"]
        for _ in range(200):
            await asyncio.sleep(0.002)
            if policy.is_url_blocked("https://spam.example/users/a#main-key"):
                break
        assert policy.is_url_blocked("https://spam.example/users/a#main-key")
        store.domain_blocks.domains = []
        for _ in range(200):
            await asyncio.sleep(0.002)
            if not policy.is_url_blocked("https://spam.example/users/a#main-key"):
                break
        assert not policy.is_url_blocked("https://spam.example/users/a#main-key")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
