"""Which remote domains we federate with (pure).

A block covers the domain and all its subdomains (blocking `example.com` blocks
`social.example.com`), as Mastodon's domain blocks do. In allowlist mode only the listed
domains (and their subdomains) are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class DomainPolicy:
    blocked: frozenset[str]
    #: None in blocklist mode; the allowed domains in allowlist mode.
    allowed: frozenset[str] | None = None

    @classmethod
    def build(cls, mode: str, blocked: Iterable[str], allowed: Iterable[str]) -> DomainPolicy:
        return cls(
            blocked=frozenset(normalise(d) for d in blocked),
            allowed=frozenset(normalise(d) for d in allowed) if mode == "allowlist" else None,
        )

    def is_blocked(self, host: str) -> bool:
        name = normalise(host)
        if _matches(name, self.blocked):
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
