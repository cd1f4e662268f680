"""Frozen rows the data layer returns. Nothing outside fedserver.db sees a cursor."""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fedserver.ids import parse_isoformat


@dataclass(frozen=True)
class ProfileField:
    name: str
    value: str


@dataclass(frozen=True)
class AccountRow:
    """A local or remote actor. Local ones have `domain is None` and no stored URIs."""

    id: int
    username: str
    domain: str | None
    uri: str | None
    url: str | None
    inbox_url: str | None
    shared_inbox_url: str | None
    outbox_url: str | None
    followers_url: str | None
    following_url: str | None
    featured_url: str | None
    actor_type: str
    display_name: str
    summary: str
    avatar_url: str | None
    header_url: str | None
    manually_approves_followers: bool
    discoverable: bool
    indexable: bool
    bot: bool
    also_known_as: tuple[str, ...]
    fields: tuple[ProfileField, ...]
    moved_to_uri: str | None
    public_key_id: str | None
    public_key_pem: str | None
    created_at: datetime
    updated_at: datetime
    fetched_at: datetime | None
    deleted_at: datetime | None

    @property
    def is_local(self) -> bool:
        return self.domain is None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def acct(self) -> str:
        """Mastodon's `acct`: the bare username for local accounts, user@domain otherwise."""
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @classmethod
    def from_row(cls, row: Any, prefix: str = "") -> AccountRow:
        """The account in `row`, whose columns may carry a `prefix` (joins).

        The same row read again gives the same (immutable) object from a small cache:
        a timeline page renders the same few authors on every request, and building an
        AccountRow is ~35 us (29 named lookups, two JSON columns, a frozen dataclass).
        """
        if prefix:
            values = {name: row[prefix + name] for name in _ACCOUNT_COLUMNS}
            return _account_from_values(tuple(values.items()))
        if isinstance(row, sqlite3.Row):
            return _account_from_values(tuple(zip(row.keys(), row, strict=True)))
        return _account_from_values(tuple((name, row[name]) for name in _ACCOUNT_COLUMNS))


_ACCOUNT_COLUMNS = tuple(AccountRow.__dataclass_fields__)


@functools.lru_cache(maxsize=4096)
def _account_from_values(items: tuple[tuple[str, Any], ...]) -> AccountRow:
    col = dict(items)
    also_known_as = col["also_known_as"]
    fields = col["fields"]
    return AccountRow(
        id=col["id"],
        username=col["username"],
        domain=col["domain"],
        uri=col["uri"],
        url=col["url"],
        inbox_url=col["inbox_url"],
        shared_inbox_url=col["shared_inbox_url"],
        outbox_url=col["outbox_url"],
        followers_url=col["followers_url"],
        following_url=col["following_url"],
        featured_url=col["featured_url"],
        actor_type=col["actor_type"],
        display_name=col["display_name"],
        summary=col["summary"],
        avatar_url=col["avatar_url"],
        header_url=col["header_url"],
        manually_approves_followers=bool(col["manually_approves_followers"]),
        discoverable=bool(col["discoverable"]),
        indexable=bool(col["indexable"]),
        bot=bool(col["bot"]),
        also_known_as=() if also_known_as == "[]" else tuple(json.loads(also_known_as)),
        fields=()
        if fields == "[]"
        else tuple(ProfileField(str(f["name"]), str(f["value"])) for f in json.loads(fields)),
        moved_to_uri=col["moved_to_uri"],
        public_key_id=col["public_key_id"],
        public_key_pem=col["public_key_pem"],
        created_at=parse_isoformat(col["created_at"]),
        updated_at=parse_isoformat(col["updated_at"]),
        fetched_at=_maybe_time(col["fetched_at"]),
        deleted_at=_maybe_time(col["deleted_at"]),
    )


@dataclass(frozen=True)
class UserRow:
    """The login side of a local account."""

    id: int
    account_id: int
    email: str | None
    password_hash: str
    is_admin: bool
    approved: bool
    created_at: datetime
    default_visibility: str = "public"
    default_sensitive: bool = False
    default_language: str | None = None
    sign_up_reason: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> UserRow:
        return cls(
            id=row["user_id"],
            account_id=row["account_id"],
            email=row["email"],
            password_hash=row["password_hash"],
            is_admin=bool(row["is_admin"]),
            approved=bool(row["approved"]),
            created_at=parse_isoformat(row["user_created_at"]),
            default_visibility=row["default_visibility"],
            default_sensitive=bool(row["default_sensitive"]),
            default_language=row["default_language"],
            sign_up_reason=row["sign_up_reason"],
        )


@dataclass(frozen=True)
class LocalUser:
    account: AccountRow
    user: UserRow

    @property
    def username(self) -> str:
        return self.account.username


@dataclass(frozen=True)
class KeyPairRow:
    kind: str
    private_key_pem: str
    public_key_pem: str
    created_at: datetime


@dataclass(frozen=True)
class CollectionItem:
    """One entry of a followers/following page: an account and the edge's id (cursor)."""

    cursor: int
    account_id: int
    username: str
    domain: str | None
    uri: str | None


@dataclass(frozen=True)
class StatusRow:
    id: int
    account_id: int
    uri: str | None
    url: str | None
    content: str
    spoiler_text: str
    visibility: str
    sensitive: bool
    language: str | None
    in_reply_to_id: int | None
    in_reply_to_uri: str | None
    reblog_of_id: int | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    in_reply_to_account_id: int | None
    object_type: str
    source_text: str | None
    poll: dict[str, Any] | None

    @property
    def is_local(self) -> bool:
        return self.uri is None

    @classmethod
    def from_row(cls, row: Any) -> StatusRow:
        # One dict instead of ~20 lookups by name in a sqlite3.Row (each a linear search
        # of its column names).
        if isinstance(row, sqlite3.Row):
            row = dict(zip(row.keys(), row, strict=True))
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            uri=row["uri"],
            url=row["url"],
            content=row["content"],
            spoiler_text=row["spoiler_text"],
            visibility=row["visibility"],
            sensitive=bool(row["sensitive"]),
            language=row["language"],
            in_reply_to_id=row["in_reply_to_id"],
            in_reply_to_uri=row["in_reply_to_uri"],
            reblog_of_id=row["reblog_of_id"],
            created_at=parse_isoformat(row["created_at"]),
            edited_at=_maybe_time(row["edited_at"]),
            deleted_at=_maybe_time(row["deleted_at"]),
            in_reply_to_account_id=row["in_reply_to_account_id"],
            object_type=row["object_type"],
            source_text=row["source_text"],
            poll=None if row["poll"] is None else json.loads(row["poll"]),
        )


@dataclass(frozen=True)
class UsageStats:
    """What NodeInfo reports."""

    users_total: int
    users_active_month: int
    users_active_halfyear: int
    local_posts: int


def _maybe_time(value: str | None) -> datetime | None:
    return None if value is None else parse_isoformat(value)


@dataclass(frozen=True)
class RemoteActor:
    """A remote actor as parsed from its own document (actors/parse.py), ready to store."""

    uri: str
    username: str
    #: The host (with port, if any) of the actor id: the `domain` of user@domain.
    domain: str
    actor_type: str
    url: str | None
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    following: str | None
    featured: str | None
    display_name: str
    summary: str
    avatar_url: str | None
    header_url: str | None
    manually_approves_followers: bool
    discoverable: bool
    indexable: bool
    bot: bool
    also_known_as: tuple[str, ...]
    moved_to: str | None
    fields: tuple[tuple[str, str], ...]
    public_key_id: str | None
    public_key_pem: str | None
