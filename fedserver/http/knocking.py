"""Which signature scheme a remote host gets, RFC 9421 or draft-cavage: double-knocking.

Hosts that advertise RFC 9421 (FEP-844e `implements`, or an RFC 9421 request that was
accepted) get RFC 9421 first; a 401 to it makes the client retry once with draft-cavage
and remember the host as cavage-only. Unknown hosts get draft-cavage, which every peer
in PEERS.md accepts. The memory is per process, bounded in size and expires entries
(SECURITY.md 1.4, Fedify CVE-2026-69132: per-remote state needs a TTL and a cap).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .policy import SignatureScheme


@dataclass(frozen=True, slots=True)
class _Verdict:
    scheme: SignatureScheme
    expires_at: float


class SchemeMemory:
    """Per-host signature scheme: least recently used out first, kept `ttl_seconds`."""

    def __init__(
        self,
        *,
        max_hosts: int = 10_000,
        ttl_seconds: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_hosts <= 0 or ttl_seconds <= 0:
            raise ValueError("max_hosts and ttl_seconds must be positive")
        self._max_hosts = max_hosts
        self._ttl = ttl_seconds
        self._clock = clock
        self._verdicts: OrderedDict[str, _Verdict] = OrderedDict()

    def __len__(self) -> int:
        return len(self._verdicts)

    def scheme_for(self, host: str) -> SignatureScheme:
        """The scheme to try first for `host` (draft-cavage when nothing is known)."""
        verdict = self._get(_normalise(host))
        return "cavage" if verdict is None else verdict.scheme

    def mark_rfc9421_supported(self, host: str) -> None:
        """`host` advertises RFC 9421 (FEP-844e). A 401 learned earlier still wins
        until it expires, so a host that advertises but refuses is not re-knocked on
        every actor refresh."""
        key = _normalise(host)
        verdict = self._get(key)
        if verdict is not None and verdict.scheme == "cavage":
            return
        self._set(key, "rfc9421")

    def rfc9421_accepted(self, host: str) -> None:
        """`host` accepted an RFC 9421 signature: keep (and refresh) it."""
        self._set(_normalise(host), "rfc9421")

    def rfc9421_rejected(self, host: str) -> None:
        """`host` answered 401 to an RFC 9421 signature: cavage only from now on."""
        self._set(_normalise(host), "cavage")

    def _get(self, key: str) -> _Verdict | None:
        verdict = self._verdicts.get(key)
        if verdict is None:
            return None
        if verdict.expires_at <= self._clock():
            del self._verdicts[key]
            return None
        self._verdicts.move_to_end(key)
        return verdict

    def _set(self, key: str, scheme: SignatureScheme) -> None:
        self._verdicts[key] = _Verdict(scheme, self._clock() + self._ttl)
        self._verdicts.move_to_end(key)
        while len(self._verdicts) > self._max_hosts:
            self._verdicts.popitem(last=False)


def _normalise(host: str) -> str:
    return host.rstrip(".").lower()
