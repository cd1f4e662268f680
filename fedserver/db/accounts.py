"""Accounts, local users and key pairs."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

from fedserver.db.database import Database, Transaction, is_unique_violation, like_prefix
from fedserver.db.rows import (
    AccountRow,
    KeyPairRow,
    LocalUser,
    RemoteActor,
    UsageStats,
    UserRow,
)
from fedserver.errors import Conflict
from fedserver.ids import isoformat, parse_isoformat

#: The columns `local_user_from_row` reads, from `accounts a` and `users u`.
LOCAL_USER_COLUMNS = """
    a.*, u.id AS user_id, u.account_id, u.email, u.password_hash, u.is_admin, u.approved,
    u.created_at AS user_created_at, u.default_visibility, u.default_sensitive,
    u.default_language, u.sign_up_reason
"""
_LOCAL_USER_SELECT = f"""
    SELECT {LOCAL_USER_COLUMNS}
    FROM accounts a JOIN users u ON u.account_id = a.id
"""


class Accounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def local_user(self, username: str) -> LocalUser | None:
        """A local user by username (case-insensitive), deleted ones included."""
        row = await self._db.fetch_one(
            _LOCAL_USER_SELECT + " WHERE lower(a.username) = lower(?) AND a.domain IS NULL",
            (username,),
        )
        return None if row is None else local_user_from_row(row)

    async def local_user_by_id(self, user_id: int) -> LocalUser | None:
        row = await self._db.fetch_one(_LOCAL_USER_SELECT + " WHERE u.id = ?", (user_id,))
        return None if row is None else local_user_from_row(row)

    async def local_user_by_email(self, email: str) -> LocalUser | None:
        row = await self._db.fetch_one(
            _LOCAL_USER_SELECT + " WHERE lower(u.email) = lower(?)", (email,)
        )
        return None if row is None else local_user_from_row(row)

    async def local_users(self) -> list[LocalUser]:
        rows = await self._db.fetch_all(
            _LOCAL_USER_SELECT + " WHERE a.domain IS NULL ORDER BY a.username"
        )
        return [local_user_from_row(row) for row in rows]

    async def by_id(self, account_id: int) -> AccountRow | None:
        row = await self._db.fetch_one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else AccountRow.from_row(row)

    async def by_ids(self, account_ids: Collection[int]) -> dict[int, AccountRow]:
        """The accounts with these ids that exist, by id."""
        rows = await self._db.fetch_in("SELECT * FROM accounts WHERE id IN ({in})", account_ids)
        return {row["id"]: AccountRow.from_row(row) for row in rows}

    async def counts_for(
        self, account_ids: Collection[int]
    ) -> dict[int, tuple[int, int, int, datetime | None]]:
        """(statuses, followers, following, last status time) of many accounts in one
        query, from the counters triggers keep (migration 0008). Every id has an entry."""
        rows = await self._db.fetch_in(
            "SELECT account_id, statuses_count, followers_count, following_count,"
            " last_status_at FROM account_stats WHERE account_id IN ({in})",
            account_ids,
        )
        found: dict[int, tuple[int, int, int, datetime | None]] = dict.fromkeys(
            account_ids, (0, 0, 0, None)
        )
        for account_id, statuses, followers, following, last in rows:
            found[account_id] = (
                int(statuses),
                int(followers),
                int(following),
                None if last is None else parse_isoformat(last),
            )
        return found

    async def create_local_user(
        self,
        *,
        account_id: int,
        user_id: int,
        username: str,
        email: str | None,
        password_hash: str,
        is_admin: bool,
        approved: bool,
        keypairs: list[tuple[int, str, str, str]],
        now: datetime,
    ) -> LocalUser:
        """Create the account, the user and its key pairs in one transaction.

        `keypairs` holds (id, kind, private PEM, public PEM). Raises Conflict when the
        username or e-mail is taken (deleted accounts keep their names, as on Mastodon).
        """
        stamp = isoformat(now)
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO accounts (id, username, domain, actor_type, created_at,"
                    " updated_at) VALUES (?, ?, NULL, 'Person', ?, ?)",
                    (account_id, username, stamp, stamp),
                )
                await tx.execute(
                    "INSERT INTO users (id, account_id, email, password_hash, is_admin,"
                    " approved, created_at, last_active_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user_id,
                        account_id,
                        email,
                        password_hash,
                        is_admin,
                        approved,
                        stamp,
                        stamp,
                    ),
                )
                await tx.execute_many(
                    "INSERT INTO keypairs (id, account_id, kind, private_key_pem,"
                    " public_key_pem, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (key_id, account_id, kind, private, public, stamp)
                        for key_id, kind, private, public in keypairs
                    ],
                )
        except Exception as exc:
            if is_unique_violation(exc):
                what = "e-mail" if "users.email" in str(exc) or "email" in str(exc) else ""
                raise Conflict(f"that {what or 'username'} is already taken") from None
            raise
        created = await self.local_user(username)
        assert created is not None
        return created

    async def mark_deleted(self, account_id: int, now: datetime) -> None:
        """Delete a local account: its profile is wiped, its name stays reserved, and its
        keys stay so the Delete can still be signed."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE accounts SET deleted_at = ?, updated_at = ?, display_name = '',"
                " summary = '', avatar_url = NULL, header_url = NULL, fields = '[]'"
                " WHERE id = ?",
                (isoformat(now), isoformat(now), account_id),
            )
            await tx.execute(
                "UPDATE users SET email = NULL, password_hash = '!' WHERE account_id = ?",
                (account_id,),
            )

    async def set_moved_to(
        self, tx: Transaction, account_id: int, target: str, now: datetime
    ) -> None:
        await tx.execute(
            "UPDATE accounts SET moved_to_uri = ?, updated_at = ? WHERE id = ?",
            (target, isoformat(now), account_id),
        )

    async def set_sign_up_reason(self, user_id: int, reason: str) -> None:
        """Why someone signed up (approval mode), for the admin who approves them."""
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE users SET sign_up_reason = ? WHERE id = ?", (reason, user_id))

    async def set_approved(self, account_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE users SET approved = 1 WHERE account_id = ?", (account_id,))

    async def set_admin(self, account_id: int, is_admin: bool) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE users SET is_admin = ? WHERE account_id = ?",
                (is_admin, account_id),
            )

    async def update_profile(
        self,
        account_id: int,
        *,
        now: datetime,
        display_name: str | None = None,
        summary: str | None = None,
        manually_approves_followers: bool | None = None,
        discoverable: bool | None = None,
        indexable: bool | None = None,
        bot: bool | None = None,
        fields: list[tuple[str, str]] | None = None,
        also_known_as: list[str] | None = None,
    ) -> None:
        """Change the given profile columns of a local account; None leaves one as it is."""
        changes: dict[str, object] = {
            "display_name": display_name,
            "summary": summary,
            "manually_approves_followers": manually_approves_followers,
            "discoverable": discoverable,
            "indexable": indexable,
            "bot": bot,
            "fields": None
            if fields is None
            else json.dumps([{"name": n, "value": v} for n, v in fields]),
            "also_known_as": None if also_known_as is None else json.dumps(also_known_as),
        }
        given = {column: value for column, value in changes.items() if value is not None}
        # Column names come from the fixed keys above, never from input.
        assignments = "".join(f"{column} = ?, " for column in given)
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE accounts SET {assignments}updated_at = ? WHERE id = ?",
                (*given.values(), isoformat(now), account_id),
            )

    async def update_preferences(
        self, user_id: int, *, visibility: str, sensitive: bool, language: str | None
    ) -> None:
        """Posting defaults (the API's `source[privacy]`, `source[sensitive]`, ...)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE users SET default_visibility = ?, default_sensitive = ?,"
                " default_language = ? WHERE id = ?",
                (visibility, sensitive, language, user_id),
            )

    async def first_admin(self) -> LocalUser | None:
        """The oldest administrator still here (the instance's contact account)."""
        row = await self._db.fetch_one(
            _LOCAL_USER_SELECT + " WHERE u.is_admin = 1 AND a.deleted_at IS NULL"
            " AND a.domain IS NULL ORDER BY u.id LIMIT 1"
        )
        return None if row is None else local_user_from_row(row)

    async def search(
        self,
        text: str,
        *,
        domain: str | None = None,
        local_only: bool = False,
        limit: int,
        offset: int = 0,
        viewer_id: int | None = None,
        following_only: bool = False,
    ) -> list[AccountRow]:
        """Accounts whose username (or display name, or a word of it) starts with `text`.

        With `domain`, the username and the domain must both match as prefixes (a
        `user@host` query); `local_only` keeps local accounts. Deleted accounts, users
        awaiting approval and accounts blocking the viewer are left out; an exact
        username comes first, then local accounts.
        """
        prefix = like_prefix(text.lower())
        if domain is not None or local_only:
            sql = ["lower(a.username) LIKE ? ESCAPE '\\'"]
            params: list[object] = [prefix]
        else:
            sql = [
                "(lower(a.username) LIKE ? ESCAPE '\\' OR lower(a.display_name) LIKE ?"
                " ESCAPE '\\' OR lower(a.display_name) LIKE ? ESCAPE '\\')"
            ]
            params = [prefix, prefix, "% " + prefix]
        if local_only:
            sql.append("a.domain IS NULL")
        elif domain is not None:
            sql.append("lower(a.domain) LIKE ? ESCAPE '\\'")
            params.append(like_prefix(domain.lower()))
        if following_only:
            sql.append(
                "EXISTS (SELECT 1 FROM follows f WHERE f.account_id = ?"
                " AND f.target_account_id = a.id AND f.state = 'accepted')"
            )
            params.append(viewer_id)
        if viewer_id is not None:
            sql.append(
                "NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = a.id"
                " AND b.target_account_id = ?)"
            )
            params.append(viewer_id)
        rows = await self._db.fetch_all(
            "SELECT a.* FROM accounts a WHERE a.deleted_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.account_id = a.id"
            " AND u.approved = 0) AND "
            + " AND ".join(sql)
            + " ORDER BY CASE WHEN lower(a.username) = ? THEN 0 ELSE 1 END,"
            " CASE WHEN a.domain IS NULL THEN 0 ELSE 1 END, lower(a.username), a.id"
            " LIMIT ? OFFSET ?",
            (*params, text.lower(), limit, offset),
        )
        return [AccountRow.from_row(row) for row in rows]

    # -- key pairs -------------------------------------------------------------------

    async def keypairs(self, account_id: int | None) -> dict[str, KeyPairRow]:
        """Key pairs by kind; `None` means the instance actor's."""
        rows = await self._db.fetch_all(
            "SELECT kind, private_key_pem, public_key_pem, created_at FROM keypairs"
            " WHERE coalesce(account_id, 0) = ?",
            (account_id or 0,),
        )
        return {
            row["kind"]: KeyPairRow(
                kind=row["kind"],
                private_key_pem=row["private_key_pem"],
                public_key_pem=row["public_key_pem"],
                created_at=parse_isoformat(row["created_at"]),
            )
            for row in rows
        }

    async def add_instance_keypairs(
        self, keypairs: list[tuple[int, str, str, str]], now: datetime
    ) -> None:
        """Store the instance actor's keys unless another process stored them first."""
        async with self._db.transaction() as tx:
            for key_id, kind, private, public in keypairs:
                await tx.execute(
                    "INSERT INTO keypairs (id, account_id, kind, private_key_pem,"
                    " public_key_pem, created_at) VALUES (?, NULL, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (key_id, kind, private, public, isoformat(now)),
                )

    # -- statistics --------------------------------------------------------------------

    async def usage(self, month_ago: datetime, halfyear_ago: datetime) -> UsageStats:
        """Counts for NodeInfo: approved, undeleted users, and local posts."""
        row = await self._db.fetch_one(
            """
            SELECT
              count(*) AS total,
              coalesce(sum(CASE WHEN u.last_active_at >= ? THEN 1 ELSE 0 END), 0)
                AS month,
              coalesce(sum(CASE WHEN u.last_active_at >= ? THEN 1 ELSE 0 END), 0)
                AS halfyear,
              (SELECT count(*) FROM statuses s JOIN accounts sa ON sa.id = s.account_id
               WHERE sa.domain IS NULL AND s.deleted_at IS NULL
                 AND s.reblog_of_id IS NULL) AS posts
            FROM users u JOIN accounts a ON a.id = u.account_id
            WHERE a.deleted_at IS NULL AND u.approved = 1
            """,
            (isoformat(month_ago), isoformat(halfyear_ago)),
        )
        assert row is not None
        return UsageStats(
            users_total=row["total"],
            users_active_month=row["month"],
            users_active_halfyear=row["halfyear"],
            local_posts=row["posts"],
        )


def local_user_from_row(row: object) -> LocalUser:
    return LocalUser(account=AccountRow.from_row(row), user=UserRow.from_row(row))


class RemoteAccounts:
    """Remote actors, as last fetched from their own ids."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_uri(self, uri: str) -> AccountRow | None:
        row = await self._db.fetch_one("SELECT * FROM accounts WHERE uri = ?", (uri,))
        return None if row is None else AccountRow.from_row(row)

    async def by_uris(self, uris: Collection[str]) -> dict[str, AccountRow]:
        """The accounts with these uris that are stored, by uri."""
        rows = await self._db.fetch_in("SELECT * FROM accounts WHERE uri IN ({in})", uris)
        return {row["uri"]: AccountRow.from_row(row) for row in rows}

    async def by_url(self, url: str) -> AccountRow | None:
        """A remote account by its profile page URL (what people paste into search)."""
        row = await self._db.fetch_one(
            "SELECT * FROM accounts WHERE url = ? AND domain IS NOT NULL ORDER BY id LIMIT 1",
            (url,),
        )
        return None if row is None else AccountRow.from_row(row)

    async def known_domains(self) -> list[str]:
        """Every domain we know accounts on (the instance API's peers)."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT domain FROM accounts WHERE domain IS NOT NULL ORDER BY domain"
        )
        return [row[0] for row in rows]

    async def by_acct(self, username: str, domain: str) -> AccountRow | None:
        row = await self._db.fetch_one(
            "SELECT * FROM accounts WHERE lower(username) = lower(?) AND domain = ?",
            (username, domain.lower()),
        )
        return None if row is None else AccountRow.from_row(row)

    async def upsert(self, actor: RemoteActor, *, new_id: int, now: datetime) -> AccountRow:
        """Store what the actor's own document says. Only call this with a document
        fetched from the actor's id (never one embedded by someone else: R6)."""
        stamp = isoformat(now)
        values = (
            actor.username,
            actor.domain,
            actor.url,
            actor.inbox,
            actor.shared_inbox,
            actor.outbox,
            actor.followers,
            actor.following,
            actor.featured,
            actor.actor_type,
            actor.display_name,
            actor.summary,
            actor.avatar_url,
            actor.header_url,
            actor.manually_approves_followers,
            actor.discoverable,
            actor.indexable,
            actor.bot,
            json.dumps(list(actor.also_known_as)),
            json.dumps([{"name": n, "value": v} for n, v in actor.fields]),
            actor.moved_to,
            actor.public_key_id,
            actor.public_key_pem,
            stamp,
            stamp,
        )
        async with self._db.transaction() as tx:
            # The same user@domain under a new id is the same account moved by its own
            # server (Mastodon does the same): take the row over rather than fail.
            await tx.execute(
                "UPDATE accounts SET uri = ? WHERE lower(username) = lower(?) AND domain = ?"
                " AND uri != ?",
                (actor.uri, actor.username, actor.domain, actor.uri),
            )
            await tx.execute(
                """
                INSERT INTO accounts (id, uri, username, domain, url, inbox_url,
                  shared_inbox_url, outbox_url, followers_url, following_url, featured_url,
                  actor_type, display_name, summary, avatar_url, header_url,
                  manually_approves_followers, discoverable, indexable, bot, also_known_as,
                  fields, moved_to_uri, public_key_id, public_key_pem, fetched_at,
                  updated_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?)
                ON CONFLICT (uri) DO UPDATE SET
                  username = excluded.username, domain = excluded.domain, url = excluded.url,
                  inbox_url = excluded.inbox_url,
                  shared_inbox_url = excluded.shared_inbox_url,
                  outbox_url = excluded.outbox_url, followers_url = excluded.followers_url,
                  following_url = excluded.following_url,
                  featured_url = excluded.featured_url, actor_type = excluded.actor_type,
                  display_name = excluded.display_name, summary = excluded.summary,
                  avatar_url = excluded.avatar_url, header_url = excluded.header_url,
                  manually_approves_followers = excluded.manually_approves_followers,
                  discoverable = excluded.discoverable, indexable = excluded.indexable,
                  bot = excluded.bot, also_known_as = excluded.also_known_as,
                  fields = excluded.fields, moved_to_uri = excluded.moved_to_uri,
                  public_key_id = excluded.public_key_id,
                  public_key_pem = excluded.public_key_pem,
                  fetched_at = excluded.fetched_at, updated_at = excluded.updated_at,
                  deleted_at = NULL
                """,
                (new_id, actor.uri, *values, stamp),
            )
        stored = await self.by_uri(actor.uri)
        assert stored is not None
        return stored

    async def mark_deleted(self, account_id: int, now: datetime) -> None:
        """A remote actor deleted itself: drop its content and relationships, keep a row
        so that a late activity from it finds it deleted."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM statuses WHERE account_id = ?", (account_id,))
            await tx.execute(
                "DELETE FROM follows WHERE account_id = ? OR target_account_id = ?",
                (account_id, account_id),
            )
            await tx.execute("DELETE FROM favourites WHERE account_id = ?", (account_id,))
            await tx.execute("DELETE FROM notifications WHERE from_account_id = ?", (account_id,))
            await tx.execute(
                "UPDATE accounts SET deleted_at = ?, display_name = '', summary = '',"
                " fields = '[]', avatar_url = NULL, header_url = NULL WHERE id = ?",
                (isoformat(now), account_id),
            )
