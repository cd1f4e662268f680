"""Statuses (local and remote) and their parts: mentions, tags, emoji, media, edits, feeds.

Writes take an open `Transaction`, so a caller can store a status, its notifications and
its deliveries atomically.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fedserver.db.database import MAX_ID, Database, Row, Transaction, like_prefix
from fedserver.db.rows import StatusRow
from fedserver.db.timelines import Window
from fedserver.ids import isoformat, parse_isoformat

# Visibilities anyone may see; the outbox and the public profile page show only these.
PUBLIC_VISIBILITIES = ("public", "unlisted")


# Who may see a status `s` (Mastodon's StatusPolicy#show?, as fedserver/api/visibility.py
# decides for one status): anyone for public and unlisted ones; its author; the author's
# accepted followers for followers-only ones; the accounts it mentions for followers-only
# and direct ones. A boost shows only when its original is public or unlisted (or the
# viewer's own). `:viewer` is the viewer's account id, NULL for anonymous readers.
_VISIBLE = """
    s.deleted_at IS NULL AND (
      s.visibility IN ('public', 'unlisted')
      OR s.account_id = :viewer
      OR (s.visibility = 'private' AND EXISTS (
            SELECT 1 FROM follows vf WHERE vf.account_id = :viewer
            AND vf.target_account_id = s.account_id AND vf.state = 'accepted'))
      OR (s.visibility IN ('private', 'direct') AND EXISTS (
            SELECT 1 FROM mentions vm WHERE vm.status_id = s.id AND vm.account_id = :viewer))
    ) AND (
      s.reblog_of_id IS NULL OR EXISTS (
        SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id AND o.deleted_at IS NULL
        AND (o.visibility IN ('public', 'unlisted') OR o.account_id = :viewer))
    )
"""


@dataclass(frozen=True)
class AccountStatusFilter:
    """The filters of GET /api/v1/accounts/:id/statuses."""

    pinned: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    only_media: bool = False
    #: A hashtag name, lowercase, without '#'.
    tagged: str | None = None


@dataclass(frozen=True)
class NewAttachment:
    id: int
    type: str
    remote_url: str | None
    media_type: str | None
    description: str
    blurhash: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class NewStatus:
    id: int
    account_id: int
    uri: str | None
    url: str | None
    content: str
    spoiler_text: str
    visibility: str
    sensitive: bool
    language: str | None
    created_at: datetime
    in_reply_to_id: int | None = None
    in_reply_to_uri: str | None = None
    in_reply_to_account_id: int | None = None
    reblog_of_id: int | None = None
    object_type: str = "Note"
    source_text: str | None = None
    poll: dict[str, object] | None = None
    edited_at: datetime | None = None
    mention_account_ids: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    emojis: tuple[tuple[str, str], ...] = ()
    attachments: tuple[NewAttachment, ...] = field(default=())


_INSERT_STATUS = """
    INSERT INTO statuses (id, account_id, uri, url, content, spoiler_text,
      visibility, sensitive, language, in_reply_to_id, in_reply_to_uri,
      in_reply_to_account_id, reblog_of_id, object_type, source_text, poll,
      created_at, edited_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _status_values(new: NewStatus) -> tuple[object, ...]:
    return (
        new.id,
        new.account_id,
        new.uri,
        new.url,
        new.content,
        new.spoiler_text,
        new.visibility,
        new.sensitive,
        new.language,
        new.in_reply_to_id,
        new.in_reply_to_uri,
        new.in_reply_to_account_id,
        new.reblog_of_id,
        new.object_type,
        new.source_text,
        None if new.poll is None else json.dumps(new.poll),
        isoformat(new.created_at),
        None if new.edited_at is None else isoformat(new.edited_at),
    )


class Statuses:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_id(self, status_id: int) -> StatusRow | None:
        row = await self._db.fetch_one("SELECT * FROM statuses WHERE id = ?", (status_id,))
        return None if row is None else StatusRow.from_row(row)

    async def by_ids(self, status_ids: Collection[int]) -> dict[int, StatusRow]:
        """The statuses with these ids that exist, by id (deleted ones included)."""
        rows = await self._db.fetch_in("SELECT * FROM statuses WHERE id IN ({in})", status_ids)
        return {row["id"]: StatusRow.from_row(row) for row in rows}

    async def by_uri(self, uri: str) -> StatusRow | None:
        row = await self._db.fetch_one("SELECT * FROM statuses WHERE uri = ?", (uri,))
        return None if row is None else StatusRow.from_row(row)

    async def reblog_by(self, account_id: int, status_id: int) -> StatusRow | None:
        row = await self._db.fetch_one(
            "SELECT * FROM statuses WHERE account_id = ? AND reblog_of_id = ?",
            (account_id, status_id),
        )
        return None if row is None else StatusRow.from_row(row)

    async def reblogged_by(self, account_id: int, status_ids: Collection[int]) -> set[int]:
        """Which of `status_ids` `account_id` has boosted (`reblog_by` for many)."""
        rows = await self._db.fetch_in(
            "SELECT reblog_of_id FROM statuses WHERE account_id = ? AND reblog_of_id IN ({in})",
            status_ids,
            (account_id,),
        )
        return {row[0] for row in rows}

    async def count_by_account(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT coalesce(max(statuses_count), 0) FROM account_stats WHERE account_id = ?",
                (account_id,),
            )
        )

    async def public_by_account(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[StatusRow]:
        """Public and unlisted statuses and boosts of one account, newest first."""
        rows = await self._db.fetch_all(
            """
            SELECT * FROM statuses
            WHERE account_id = ? AND deleted_at IS NULL AND id < ?
              AND visibility IN (?, ?)
            ORDER BY id DESC LIMIT ?
            """,
            (account_id, MAX_ID if before is None else before, *PUBLIC_VISIBILITIES, limit),
        )
        return [StatusRow.from_row(row) for row in rows]

    async def by_account_for(
        self,
        account_id: int,
        viewer_id: int | None,
        window: Window,
        filters: AccountStatusFilter = AccountStatusFilter(),
    ) -> list[StatusRow]:
        """One account's statuses and boosts that `viewer_id` may see, newest first
        (blocks are the caller's to check)."""
        condition, values, order = window.clause("s.id")
        params: dict[str, object] = {"account": account_id, "viewer": viewer_id, **values}
        sql = [_VISIBLE, condition]
        if filters.pinned:
            sql.append(
                "EXISTS (SELECT 1 FROM pins p WHERE p.account_id = s.account_id"
                " AND p.status_id = s.id)"
            )
        if filters.exclude_replies:
            # Replies to oneself (threads) stay, as on Mastodon.
            sql.append(
                "(s.in_reply_to_uri IS NULL AND s.in_reply_to_id IS NULL"
                " OR s.in_reply_to_account_id = s.account_id)"
            )
        if filters.exclude_reblogs:
            sql.append("s.reblog_of_id IS NULL")
        if filters.only_media:
            sql.append("EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = s.id)")
        if filters.tagged is not None:
            sql.append(
                "EXISTS (SELECT 1 FROM status_tags st JOIN tags t ON t.id = st.tag_id"
                " WHERE st.status_id = s.id AND t.name = :tag)"
            )
            params["tag"] = filters.tagged
        rows = await self._db.fetch_all(
            "SELECT s.* FROM statuses s WHERE s.account_id = :account AND "
            + " AND ".join(sql)
            + f" ORDER BY s.id {order} LIMIT :limit",
            params,
        )
        found = [StatusRow.from_row(row) for row in rows]
        return found[::-1] if order == "ASC" else found

    async def by_url(self, url: str) -> StatusRow | None:
        """A status by its page URL (what people paste into search)."""
        row = await self._db.fetch_one(
            "SELECT * FROM statuses WHERE url = ? ORDER BY id LIMIT 1", (url,)
        )
        return None if row is None else StatusRow.from_row(row)

    async def search_tags(
        self, prefix: str, *, limit: int, offset: int = 0
    ) -> list[tuple[int, str]]:
        """(id, name) of hashtags starting with `prefix` (lowercase), the exact one first."""
        rows = await self._db.fetch_all(
            "SELECT id, name FROM tags WHERE name LIKE ? ESCAPE '\\'"
            " ORDER BY CASE WHEN name = ? THEN 0 ELSE 1 END, name LIMIT ? OFFSET ?",
            (like_prefix(prefix), prefix, limit, offset),
        )
        return [(row[0], row[1]) for row in rows]

    async def parts(self, status_id: int) -> StatusParts:
        mentions = await self._db.fetch_all(
            "SELECT a.id, a.username, a.domain, a.uri FROM mentions m"
            " JOIN accounts a ON a.id = m.account_id WHERE m.status_id = ? ORDER BY a.id",
            (status_id,),
        )
        tags = await self._db.fetch_all(
            "SELECT t.name FROM status_tags st JOIN tags t ON t.id = st.tag_id"
            " WHERE st.status_id = ? ORDER BY t.name",
            (status_id,),
        )
        emojis = await self._db.fetch_all(
            "SELECT shortcode, image_url FROM status_emojis WHERE status_id = ?", (status_id,)
        )
        return StatusParts(
            mentions=tuple((r[0], r[1], r[2], r[3]) for r in mentions),
            tags=tuple(r[0] for r in tags),
            emojis=tuple((r[0], r[1]) for r in emojis),
        )

    async def parts_for(self, status_ids: Collection[int]) -> dict[int, StatusParts]:
        """`parts` of many statuses in one query; every id has an entry."""
        rows = await self._db.fetch_in(
            """
            SELECT 0 AS kind, m.status_id, a.id AS k, a.username, a.domain, a.uri
              FROM mentions m JOIN accounts a ON a.id = m.account_id
              WHERE m.status_id IN ({in})
            UNION ALL
            SELECT 1, st.status_id, t.name, NULL, NULL, NULL
              FROM status_tags st JOIN tags t ON t.id = st.tag_id
              WHERE st.status_id IN ({in})
            UNION ALL
            SELECT 2, e.status_id, e.shortcode, e.image_url, NULL, NULL
              FROM status_emojis e WHERE e.status_id IN ({in})
            ORDER BY 2, 1, 3
            """,
            status_ids,
        )
        mentions: dict[int, list[tuple[int, str, str | None, str | None]]] = {}
        tags: dict[int, list[str]] = {}
        emojis: dict[int, list[tuple[str, str]]] = {}
        for kind, status_id, key, first, second, third in rows:
            if kind == 0:
                mentions.setdefault(status_id, []).append((key, first, second, third))
            elif kind == 1:
                tags.setdefault(status_id, []).append(key)
            else:
                emojis.setdefault(status_id, []).append((key, first))
        return {
            status_id: StatusParts(
                mentions=tuple(mentions.get(status_id, ())),
                tags=tuple(tags.get(status_id, ())),
                emojis=tuple(emojis.get(status_id, ())),
            )
            for status_id in status_ids
        }

    async def mark_deleted(self, tx: Transaction, status_id: int, now: datetime) -> None:
        """A local status is deleted: its text goes, a Tombstone answers for its id, and
        boosts of it go (cascade does not apply to a kept row)."""
        await tx.execute(
            "UPDATE statuses SET deleted_at = ?, content = '', spoiler_text = '',"
            " source_text = NULL, poll = NULL WHERE id = ?",
            (isoformat(now), status_id),
        )
        await tx.execute("DELETE FROM statuses WHERE reblog_of_id = ?", (status_id,))
        await tx.execute("DELETE FROM home_feed WHERE status_id = ?", (status_id,))

    async def last_status_at(self, account_id: int) -> datetime | None:
        value = await self._db.fetch_value(
            "SELECT max(last_status_at) FROM account_stats WHERE account_id = ?",
            (account_id,),
        )
        return None if value is None else parse_isoformat(value)

    async def media(self, status_id: int) -> list[Row]:
        """Attachment rows of a status, in order (read by the API presenter)."""
        return await self._db.fetch_all(
            "SELECT * FROM media_attachments WHERE status_id = ? ORDER BY position",
            (status_id,),
        )

    async def media_for(self, status_ids: Collection[int]) -> dict[int, list[Row]]:
        """`media` of many statuses in one query; every id has an entry."""
        rows = await self._db.fetch_in(
            "SELECT * FROM media_attachments WHERE status_id IN ({in})"
            " ORDER BY status_id, position, id",
            status_ids,
        )
        found: dict[int, list[Row]] = {status_id: [] for status_id in status_ids}
        for row in rows:
            found[row["status_id"]].append(row)
        return found

    async def mentioning(self, status_ids: Collection[int], account_id: int) -> set[int]:
        """Which of `status_ids` mention `account_id` (`mentioned_account_ids` for a page)."""
        rows = await self._db.fetch_in(
            "SELECT status_id FROM mentions WHERE account_id = ? AND status_id IN ({in})",
            status_ids,
            (account_id,),
        )
        return {row[0] for row in rows}

    async def mentioned_account_ids(self, status_id: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM mentions WHERE status_id = ?", (status_id,)
        )
        return [row[0] for row in rows]

    async def edits(self, status_id: int) -> list[tuple[str, str, bool, datetime]]:
        rows = await self._db.fetch_all(
            "SELECT content, spoiler_text, sensitive, created_at FROM status_edits"
            " WHERE status_id = ? ORDER BY id",
            (status_id,),
        )
        return [
            (
                r["content"],
                r["spoiler_text"],
                bool(r["sensitive"]),
                parse_isoformat(r["created_at"]),
            )
            for r in rows
        ]

    async def counts(self, status_id: int) -> tuple[int, int, int]:
        """(replies, boosts, favourites)."""
        row = await self._db.fetch_one(
            """
            SELECT
              (SELECT count(*) FROM statuses WHERE in_reply_to_id = :id
                 AND deleted_at IS NULL),
              (SELECT count(*) FROM statuses WHERE reblog_of_id = :id
                 AND deleted_at IS NULL),
              (SELECT count(*) FROM favourites WHERE status_id = :id)
            """,
            {"id": status_id},
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def counts_for(self, status_ids: Collection[int]) -> dict[int, tuple[int, int, int]]:
        """`counts` of many statuses in one query; every id has an entry."""
        rows = await self._db.fetch_in(
            """
            SELECT 0, in_reply_to_id, count(*) FROM statuses
              WHERE in_reply_to_id IN ({in}) AND deleted_at IS NULL GROUP BY in_reply_to_id
            UNION ALL
            SELECT 1, reblog_of_id, count(*) FROM statuses
              WHERE reblog_of_id IN ({in}) AND deleted_at IS NULL GROUP BY reblog_of_id
            UNION ALL
            SELECT 2, status_id, count(*) FROM favourites
              WHERE status_id IN ({in}) GROUP BY status_id
            """,
            status_ids,
        )
        counts = {status_id: [0, 0, 0] for status_id in status_ids}
        for kind, status_id, count in rows:
            counts[status_id][kind] = int(count)
        return {status_id: (c[0], c[1], c[2]) for status_id, c in counts.items()}

    # -- writes (inside the caller's transaction) ---------------------------------------

    async def insert(self, tx: Transaction, new: NewStatus) -> bool:
        """Store a status with its parts; False if its uri is already stored."""
        return await self.insert_returning(tx, new) is not None

    async def insert_many(self, tx: Transaction, news: Sequence[NewStatus]) -> None:
        """Store statuses with their parts, a statement per table for all of them (one
        trip each). The caller knows none of their uris is stored yet (it looked inside
        the same transaction): a conflict is an error here, not a silent skip."""
        await tx.execute_many(_INSERT_STATUS, [_status_values(new) for new in news])
        await self._insert_parts(tx, news)

    async def _insert_parts(self, tx: Transaction, news: Sequence[NewStatus]) -> None:
        await tx.execute_many(
            "INSERT INTO mentions (status_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(new.id, account_id) for new in news for account_id in new.mention_account_ids],
        )
        # Two statements for all the tags (each `execute` would cost two trips).
        await tx.execute_many(
            "INSERT INTO tags (name) VALUES (?) ON CONFLICT DO NOTHING",
            [(name,) for new in news for name in new.tags],
        )
        await tx.execute_many(
            "INSERT INTO status_tags (status_id, tag_id)"
            " SELECT ?, id FROM tags WHERE name = ? ON CONFLICT DO NOTHING",
            [(new.id, name) for new in news for name in new.tags],
        )
        await tx.execute_many(
            "INSERT INTO status_emojis (status_id, shortcode, image_url) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(new.id, shortcode, url) for new in news for shortcode, url in new.emojis],
        )
        await tx.execute_many(
            "INSERT INTO media_attachments (id, status_id, account_id, type, remote_url,"
            " media_type, description, blurhash, width, height, position, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.id,
                    new.id,
                    new.account_id,
                    a.type,
                    a.remote_url,
                    a.media_type,
                    a.description,
                    a.blurhash,
                    a.width,
                    a.height,
                    position,
                    isoformat(new.created_at),
                )
                for new in news
                for position, a in enumerate(new.attachments)
            ],
        )

    async def update_content(
        self,
        tx: Transaction,
        status_id: int,
        *,
        content: str,
        spoiler_text: str,
        sensitive: bool,
        language: str | None,
        edited_at: datetime,
        edit_id: int,
        source_text: str | None = None,
    ) -> None:
        """Edit a status, keeping the previous version in its history."""
        await tx.execute(
            "INSERT INTO status_edits (id, status_id, content, spoiler_text, sensitive,"
            " created_at) SELECT ?, id, content, spoiler_text, sensitive,"
            " coalesce(edited_at, created_at) FROM statuses WHERE id = ?",
            (edit_id, status_id),
        )
        await tx.execute(
            "UPDATE statuses SET content = ?, spoiler_text = ?, sensitive = ?, language = ?,"
            " edited_at = ?, source_text = coalesce(?, source_text) WHERE id = ?",
            (
                content,
                spoiler_text,
                sensitive,
                language,
                isoformat(edited_at),
                source_text,
                status_id,
            ),
        )

    async def delete(self, tx: Transaction, status_id: int) -> None:
        """Remove a status and its boosts (cascade); replies keep their text."""
        await tx.execute("DELETE FROM statuses WHERE id = ?", (status_id,))

    async def add_to_feeds(self, tx: Transaction, status_id: int, account_ids: list[int]) -> None:
        await tx.execute_many(
            "INSERT INTO home_feed (account_id, status_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(account_id, status_id) for account_id in account_ids],
        )

    async def add_to_author_feeds(
        self, tx: Transaction, entries: Sequence[tuple[int, int, bool, Sequence[int]]]
    ) -> None:
        """Put new statuses in home feeds, (status id, author id, to the author's followers,
        mentioned local account ids) each, in one statement for all: the author's accepted
        local followers (when asked) and the mentioned accounts, minus those who block the
        author (`Timelines.feed_recipients`, written where it is computed)."""
        await tx.execute_many(
            """
            WITH r(id) AS (
              SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id
              WHERE :followers AND f.target_account_id = :author AND f.state = 'accepted'
                AND a.domain IS NULL
              UNION SELECT value FROM json_each(:mentioned)
            )
            INSERT INTO home_feed (account_id, status_id)
            SELECT id, :status FROM r WHERE NOT EXISTS (
              SELECT 1 FROM blocks b WHERE b.account_id = r.id AND b.target_account_id = :author)
            ON CONFLICT DO NOTHING
            """,
            [
                {
                    "status": status_id,
                    "author": author_id,
                    "followers": int(followers),
                    "mentioned": json.dumps(list(mentioned)),
                }
                for status_id, author_id, followers, mentioned in entries
            ],
        )

    async def set_poll(self, tx: Transaction, status_id: int, poll: dict[str, object]) -> None:
        await tx.execute("UPDATE statuses SET poll = ? WHERE id = ?", (json.dumps(poll), status_id))

    async def insert_returning(self, tx: Transaction, new: NewStatus) -> StatusRow | None:
        """`insert`, returning the stored row (as `by_id` would read it after the
        commit) in the same trip; None if its uri is already stored."""
        rows = await tx.fetch_all(
            _INSERT_STATUS + " ON CONFLICT DO NOTHING RETURNING *", _status_values(new)
        )
        if not rows:
            return None
        await self._insert_parts(tx, (new,))
        return StatusRow.from_row(rows[0])

    async def by_uri_and_tombstone(self, uri: str, *, by: str) -> tuple[StatusRow | None, bool]:
        """`by_uri(uri)` and `tombstones.exists(uri, by=by)` in one read."""
        row = await self._db.fetch_one(
            "SELECT s.*, EXISTS (SELECT 1 FROM tombstones t WHERE t.uri = :uri"
            " AND t.actor_uri = :by) AS tombstoned"
            " FROM (SELECT 1) LEFT JOIN statuses s ON s.uri = :uri",
            {"uri": uri, "by": by},
        )
        assert row is not None
        status = None if row["id"] is None else StatusRow.from_row(row)
        return status, bool(row["tombstoned"])


@dataclass(frozen=True)
class StatusParts:
    """What a status names besides its text."""

    #: (account id, username, domain or None, uri or None) of mentioned accounts.
    mentions: tuple[tuple[int, str, str | None, str | None], ...]
    tags: tuple[str, ...]
    emojis: tuple[tuple[str, str], ...]
