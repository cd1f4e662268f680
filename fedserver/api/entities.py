"""Mastodon entities as JSON-ready dicts (pure): Account, Status, Relationship,
Notification, Tag, Mention, CustomEmoji, MediaAttachment, Poll.

Shapes follow https://docs.joinmastodon.org/entities/ and are checked in the tests against
the community OpenAPI schemas. Ids are strings (JavaScript clients lose precision above
2**53); dates are ISO 8601 with milliseconds and a Z, as Mastodon writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from fedserver.db import AccountRow, StatusRow


def api_time(moment: datetime) -> str:
    """Mastodon's timestamps: UTC, milliseconds, a Z ("2026-11-21T17:39:59.852Z")."""
    text = moment.isoformat(timespec="milliseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    if moment.tzinfo is None:
        return text + "Z"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class AccountCounts:
    statuses: int
    followers: int
    following: int
    last_status_at: datetime | None


def account_entity(
    account: AccountRow,
    *,
    acct: str,
    uri: str,
    url: str,
    counts: AccountCounts,
    default_avatar: str,
    default_header: str,
    moved: dict[str, Any] | None = None,
) -> dict[str, Any]:
    avatar = account.avatar_url or default_avatar
    header = account.header_url or default_header
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": acct,
        "display_name": account.display_name,
        "locked": account.manually_approves_followers,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "group": account.actor_type == "Group",
        "created_at": api_time(account.created_at),
        "note": account.summary,
        "url": url,
        "uri": uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": counts.followers,
        "following_count": counts.following,
        "statuses_count": counts.statuses,
        "last_status_at": counts.last_status_at.date().isoformat()
        if counts.last_status_at
        else None,
        "hide_collections": False,
        "noindex": not account.indexable,
        "emojis": [],
        "roles": [],
        "fields": [{"name": f.name, "value": f.value, "verified_at": None} for f in account.fields],
        "moved": moved,
        "suspended": account.is_deleted or None,
    }


def credential_source(
    *,
    note: str,
    fields: list[dict[str, str]],
    privacy: str,
    sensitive: bool,
    language: str | None,
    follow_requests_count: int,
    indexable: bool = False,
    discoverable: bool | None = None,
) -> dict[str, Any]:
    return {
        "note": note,
        "fields": [{**f, "verified_at": None} for f in fields],
        "privacy": privacy,
        "sensitive": sensitive,
        "language": language,
        "follow_requests_count": follow_requests_count,
        "indexable": indexable,
        "hide_collections": False,
        "discoverable": discoverable,
    }


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.current: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.current.append("\n")
        elif tag == "p":
            self.end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.end_paragraph()

    def handle_data(self, data: str) -> None:
        self.current.append(data)

    def end_paragraph(self) -> None:
        text = "".join(self.current)
        if text.strip():
            self.paragraphs.append(text)
        self.current = []


def plain_text(html: str) -> str:
    """The text of HTML we rendered from text (a bio, a field value): paragraphs become
    blank lines, `<br>` a newline, links their text. Not a sanitiser: its output is text.

    >>> plain_text('<p>Hi &amp; <a href="https://x.example">https://x.example</a></p><p>a<br>b</p>')
    'Hi & https://x.example\\n\\na\\nb'
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    extractor.end_paragraph()
    return "\n\n".join(extractor.paragraphs)


def role_entity(is_admin: bool) -> dict[str, Any]:
    """Mastodon's roles: Owner/Admin carry every permission bit; others none."""
    if is_admin:
        return {
            "id": "3",
            "name": "Admin",
            "color": "",
            "permissions": "1048575",
            "highlighted": True,
        }
    return {"id": "-99", "name": "", "color": "", "permissions": "0", "highlighted": False}


@dataclass(frozen=True)
class ViewerFlags:
    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    muted: bool = False
    pinned: bool = False


def status_entity(
    status: StatusRow,
    *,
    account: dict[str, Any],
    uri: str,
    url: str | None,
    reblog: dict[str, Any] | None,
    mentions: list[dict[str, Any]],
    tags: list[dict[str, Any]],
    emojis: list[dict[str, Any]],
    media: list[dict[str, Any]],
    counts: tuple[int, int, int],
    viewer: ViewerFlags | None,
) -> dict[str, Any]:
    replies, reblogs, favourites = counts
    entity: dict[str, Any] = {
        "id": str(status.id),
        "uri": uri,
        "url": url,
        "created_at": api_time(status.created_at),
        "edited_at": api_time(status.edited_at) if status.edited_at else None,
        "account": account,
        "content": status.content,
        "visibility": status.visibility,
        "sensitive": status.sensitive,
        "spoiler_text": status.spoiler_text,
        "media_attachments": media,
        "application": None,
        "mentions": mentions,
        "tags": tags,
        "emojis": emojis,
        "reblogs_count": reblogs,
        "favourites_count": favourites,
        "replies_count": replies,
        "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id else None,
        "in_reply_to_account_id": (
            str(status.in_reply_to_account_id) if status.in_reply_to_account_id else None
        ),
        "reblog": reblog,
        "poll": poll_entity(status) if status.poll else None,
        "card": None,
        "language": status.language,
        "text": None,
        "filtered": [],
    }
    if viewer is not None:
        entity.update(
            favourited=viewer.favourited,
            reblogged=viewer.reblogged,
            bookmarked=viewer.bookmarked,
            muted=viewer.muted,
            pinned=viewer.pinned,
        )
    return entity


def poll_entity(status: StatusRow) -> dict[str, Any]:
    poll = status.poll or {}
    options = poll.get("options") or []
    votes = sum(int(o.get("votes") or 0) for o in options)
    expires = poll.get("expires_at")
    return {
        "id": str(status.id),
        "expires_at": expires,
        "expired": False,
        "multiple": bool(poll.get("multiple")),
        "votes_count": votes,
        "voters_count": None,
        "options": [
            {"title": str(o.get("title", "")), "votes_count": o.get("votes")} for o in options
        ],
        "emojis": [],
        "voted": False,
        "own_votes": [],
    }


def mention_entity(account_id: int, username: str, acct: str, url: str) -> dict[str, Any]:
    return {"id": str(account_id), "username": username, "acct": acct, "url": url}


def tag_entity(name: str, base_url: str) -> dict[str, Any]:
    return {"name": name, "url": f"{base_url}/tags/{name}", "history": []}


def hashtag_entity(
    tag_id: int, name: str, base_url: str, *, following: bool | None = None
) -> dict[str, Any]:
    """A Tag as search and the tag endpoints answer it (a status's tags use `tag_entity`).
    `history` is empty: daily usage is not counted."""
    return {
        "id": str(tag_id),
        "name": name,
        "url": f"{base_url}/tags/{name}",
        "history": [],
        "following": following,
    }


def marker_entity(last_read_id: str, version: int, updated_at: datetime) -> dict[str, Any]:
    return {"last_read_id": last_read_id, "version": version, "updated_at": api_time(updated_at)}


def emoji_entity(shortcode: str, url: str) -> dict[str, Any]:
    return {
        "shortcode": shortcode,
        "url": url,
        "static_url": url,
        "visible_in_picker": False,
        "category": None,
    }


def media_entity(
    media_id: int, kind: str, remote_url: str | None, description: str | None, blurhash: str | None,
    width: int | None, height: int | None,
) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {}
    if width and height:
        meta["original"] = {"width": width, "height": height, "size": f"{width}x{height}",
                            "aspect": width / height}  # fmt: skip
    return {
        "id": str(media_id),
        "type": kind,
        "url": remote_url,
        "preview_url": remote_url,
        "remote_url": remote_url,
        "meta": meta,
        "description": description or None,
        "blurhash": blurhash,
    }


def relationship_entity(
    account_id: int,
    *,
    following: bool,
    showing_reblogs: bool,
    notifying: bool,
    followed_by: bool,
    blocking: bool,
    blocked_by: bool,
    muting: bool,
    muting_notifications: bool,
    requested: bool,
    requested_by: bool,
    domain_blocking: bool = False,
) -> dict[str, Any]:
    return {
        "id": str(account_id),
        "following": following,
        "showing_reblogs": showing_reblogs,
        "notifying": notifying,
        "languages": None,
        "followed_by": followed_by,
        "blocking": blocking,
        "blocked_by": blocked_by,
        "muting": muting,
        "muting_notifications": muting_notifications,
        "requested": requested,
        "requested_by": requested_by,
        "domain_blocking": domain_blocking,
        "endorsed": False,
        "note": "",
    }


def notification_entity(
    notification_id: int,
    kind: str,
    created_at: datetime,
    account: dict[str, Any],
    status: dict[str, Any] | None,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(notification_id),
        "type": kind,
        "group_key": f"ungrouped-{notification_id}",
        "created_at": api_time(created_at),
        "account": account,
    }
    if status is not None:
        entity["status"] = status
    return entity
