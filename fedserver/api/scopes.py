"""OAuth scopes, Mastodon's set (https://docs.joinmastodon.org/api/oauth-scopes/) (pure).

A granular scope (`read:statuses`) is satisfied by itself or its parent (`read`); the
legacy `follow` scope grants reading and writing follows, blocks and mutes.
"""

from __future__ import annotations

from collections.abc import Iterable

_READ = ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
         "mutes", "notifications", "search", "statuses")  # fmt: skip
_WRITE = ("accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
          "follows", "lists", "media", "mutes", "notifications", "reports", "statuses")  # fmt: skip
_ADMIN = ("accounts", "reports", "domain_blocks", "ip_blocks", "email_domain_blocks",
          "canonical_email_blocks", "domain_allows")  # fmt: skip

KNOWN_SCOPES = frozenset(
    {"read", "write", "follow", "push", "profile", "admin:read", "admin:write"}
    | {f"read:{s}" for s in _READ}
    | {f"write:{s}" for s in _WRITE}
    | {f"admin:read:{s}" for s in _ADMIN}
    | {f"admin:write:{s}" for s in _ADMIN}
)
_FOLLOW_GRANTS = frozenset(
    {"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}
)
DEFAULT_SCOPES = "read"


def parse_scopes(text: str | None) -> frozenset[str]:
    """Scopes are space-separated (some clients use '+' from a form-encoded string)."""
    return frozenset((text or "").replace("+", " ").split())


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - KNOWN_SCOPES)


def allows(granted: frozenset[str], required: str) -> bool:
    """Whether granted scopes cover `required` (e.g. "read:statuses").

    >>> allows(frozenset({"read"}), "read:statuses"), allows(frozenset({"read"}), "write")
    (True, False)
    """
    if required in granted:
        return True
    parts = required.split(":")
    for cut in range(len(parts) - 1, 0, -1):
        if ":".join(parts[:cut]) in granted:
            return True
    return "follow" in granted and required in _FOLLOW_GRANTS


def is_subset(requested: frozenset[str], allowed: frozenset[str]) -> bool:
    """Whether every requested scope is covered by the allowed ones (an app's scopes)."""
    return all(allows(allowed, scope) for scope in requested)
