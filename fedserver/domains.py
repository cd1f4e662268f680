"""Which remote domains we federate with.

A block covers the domain and all its subdomains (blocking `example.com` blocks
`social.example.com`), as Mastodon's domain blocks do. In allowlist mode only the listed
domains (and their subdomains) are allowed. Blocks come from config.toml and from the
database (`fedserver domain block`); the running server reloads the stored ones every few
seconds, so the CLI takes effect without a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


class DomainPolicy:
    def __init__(self, blocked: Iterable[str], allowed: Iterable[str] | None = None) -> None:
        self._configured = frozenset(normalise(d) for d in blocked)
        self._stored: frozenset[str] = frozenset()
        #: None in blocklist mode; the allowed domains in allowlist mode.
        self.allowed = None if allowed is None else frozenset(normalise(d) for d in allowed)

    @classmethod
    def build(cls, mode: str, blocked: Iterable[str], allowed: Iterable[str]) -> DomainPolicy:
        return cls(blocked, allowed if mode == "allowlist" else None)

    def set_stored_blocks(self, domains: Iterable[str]) -> None:
        """Replace the blocks read from the database."""
        self._stored = frozenset(normalise(d) for d in domains)

    def is_blocked(self, host: str) -> bool:
        name = normalise(host)
        if _matches(name, self._configured) or _matches(name, self._stored):
            return True
        return self.allowed is not None and not _matches(name, self.allowed)

    def is_url_blocked(self, url: str) -> bool:
        host = urlsplit(url).hostname
        return host is None or self.is_blocked(host)


def normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _matches(host: str, domains: frozenset[str]) -> bool:
    """`host` is one of `domains` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))
