"""Outgoing objects and activities (pure): Notes and their Create, addressed per visibility.

Addressing follows Mastodon (https://docs.joinmastodon.org/spec/activitypub/#Note):

| visibility | to                 | cc                 |
|------------|--------------------|--------------------|
| public     | Public             | followers, mentions|
| unlisted   | followers          | Public, mentions   |
| private    | followers          | mentions           |
| direct     | mentions           | (none)             |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fedserver.activitystreams import AS_CONTEXT, PUBLIC
from fedserver.db import StatusRow
from fedserver.ids import isoformat
from fedserver.urls import LocalUrls

NOTE_CONTEXT: list[Any] = [AS_CONTEXT, {"sensitive": "as:sensitive"}]


def addressing(
    visibility: str, followers_url: str, mentions: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(to, cc) for a visibility.

    >>> addressing("unlisted", "https://a.example/users/x/followers")
    (['https://a.example/users/x/followers'], ['https://www.w3.org/ns/activitystreams#Public'])
    """
    mentioned = list(mentions)
    if visibility == "public":
        return [PUBLIC], [followers_url, *mentioned]
    if visibility == "unlisted":
        return [followers_url], [PUBLIC, *mentioned]
    if visibility == "private":
        return [followers_url], mentioned
    if visibility == "direct":
        return mentioned, []
    raise ValueError(f"unknown visibility {visibility!r}")


def note_document(
    status: StatusRow, username: str, urls: LocalUrls, *, in_reply_to: str | None = None
) -> dict[str, Any]:
    """The Note of a local status, without @context (it is embedded or wrapped)."""
    to, cc = addressing(status.visibility, urls.followers(username))
    note: dict[str, Any] = {
        "id": urls.status(username, status.id),
        "type": "Note",
        "attributedTo": urls.actor(username),
        "content": status.content,
        "summary": status.spoiler_text or None,
        "sensitive": status.sensitive,
        "published": isoformat(status.created_at),
        "url": urls.status_page(username, status.id),
        "to": to,
        "cc": cc,
        "inReplyTo": in_reply_to or status.in_reply_to_uri,
        "tag": [],
        "attachment": [],
    }
    if status.language:
        note["contentMap"] = {status.language: status.content}
    if status.edited_at is not None:
        note["updated"] = isoformat(status.edited_at)
    return note


def create_activity(note: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """Wrap a Note in its Create, with the same addressing and publication time."""
    return {
        "@context": NOTE_CONTEXT,
        "id": activity_id,
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }
