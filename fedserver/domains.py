"""Which remote domains we federate with.

A block covers the domain and all its subdomains (blocking `example.com` blocks
`social.example.com`), as Mastodon's domain blocks do. In allowlist mode only the listed
domains (and their subdomains) are allowed. Blocks come from config.toml and from the
database (`fedserver domain block`); the running server reloads the stored ones every few
seconds, so the CLI takes effect without a restart.

Every inbound activity asks about the same few hosts several times (the key, the signer,
the actor again in the worker), so the verdict per host is kept in a small bounded map,
emptied whenever the stored blocks change: a verdict depends on nothing else (the
configured blocks and the allowlist never change after construction).
"""

from __future__ import annotations

from collections.abc import Iterable

from fedserver.urlparts import hostname

#: Verdicts kept at most; past that the map starts again from empty (a peer naming
#: endless hosts costs recomputation, never memory). Longer hosts than a DNS name can be
#: are decided every time, so the map holds at most about a MiB.
MAX_CACHED_VERDICTS = 4096
MAX_CACHED_HOST_CHARS = 253


class DomainPolicy:
    def __init__(self, blocked: Iterable[str], allowed: Iterable[str] | None = None) -> None:
        self._configured = frozenset(normalise(d) for d in blocked)
        self._stored: frozenset[str] = frozenset()
        self._allowed = None if allowed is None else frozenset(normalise(d) for d in allowed)
        #: host as asked (before normalising) -> blocked?
        self._verdicts: dict[str, bool] = {}

    @classmethod
    def build(cls, mode: str, blocked: Iterable[str], allowed: Iterable[str]) -> DomainPolicy:
        return cls(blocked, allowed if mode == "allowlist" else None)

    @property
    def allowed(self) -> frozenset[str] | None:
        """None in blocklist mode; the allowed domains in allowlist mode."""
        return self._allowed

    def set_stored_blocks(self, domains: Iterable[str]) -> None:
        """Replace the blocks read from the database (the cached verdicts go with them
        when they changed)."""
        stored = frozenset(normalise(d) for d in domains)
        if stored == self._stored:
            return
        # The blocks first, then a fresh map: whoever finds the new map also finds the
        # new blocks, and a verdict decided on the old ones lands in the old map.
        self._stored = stored
        self._verdicts = {}

    def is_blocked(self, host: str) -> bool:
        verdicts = self._verdicts
        verdict = verdicts.get(host)
        if verdict is None:
            verdict = self._decide(normalise(host))
            if len(host) <= MAX_CACHED_HOST_CHARS:
                if len(verdicts) >= MAX_CACHED_VERDICTS:
                    verdicts.clear()
                verdicts[host] = verdict
        return verdict

    def is_url_blocked(self, url: str) -> bool:
        host = hostname(url)
        return host is None or self.is_blocked(host)

    def _decide(self, name: str) -> bool:
        if _matches(name, self._configured) or _matches(name, self._stored):
            return True
        return self._allowed is not None and not _matches(name, self._allowed)


def normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _matches(host: str, domains: frozenset[str]) -> bool:
    """`host` is one of `domains` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))
