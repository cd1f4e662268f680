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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class NoteExtras:
    """What a Note names besides its text: mentioned actors (uri, @user@host), hashtags,
    the URI it replies to."""

    mentions: tuple[tuple[str, str], ...] = ()
    hashtags: tuple[str, ...] = ()
    in_reply_to: str | None = None


def note_document(
    status: StatusRow, username: str, urls: LocalUrls, extras: NoteExtras = NoteExtras()
) -> dict[str, Any]:
    """The Note of a local status, without @context (it is embedded or wrapped)."""
    mentioned = [uri for uri, _ in extras.mentions]
    to, cc = addressing(status.visibility, urls.followers(username), mentioned)
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
        "inReplyTo": extras.in_reply_to,
        "tag": [{"type": "Mention", "href": uri, "name": name} for uri, name in extras.mentions]
        + [
            {"type": "Hashtag", "href": f"{urls.base_url}/tags/{tag}", "name": f"#{tag}"}
            for tag in extras.hashtags
        ],
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


# -- activities about relationships and reactions ----------------------------------------
# Ids of activities nobody needs to fetch are fragments of the actor, as Mastodon's are
# (`https://example.com/users/alice#follows/123`).


def follow_activity(actor: str, target: str, follow_id: int) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#follows/{follow_id}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }


def accept_activity(actor: str, follow: dict[str, Any], accept_id: int) -> dict[str, Any]:
    """Accept a Follow; the Follow is embedded, as GoToSocial, snac and bovine expect."""
    return _respond("Accept", actor, follow, accept_id)


def reject_activity(actor: str, follow: dict[str, Any], reject_id: int) -> dict[str, Any]:
    return _respond("Reject", actor, follow, reject_id)


def _respond(kind: str, actor: str, follow: dict[str, Any], response_id: int) -> dict[str, Any]:
    embedded = {key: value for key, value in follow.items() if key != "@context"}
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#{kind.lower()}s/{response_id}",
        "type": kind,
        "actor": actor,
        "to": [follow["actor"]],
        "object": embedded,
    }


def undo_activity(actor: str, undone: dict[str, Any], undo_id: int) -> dict[str, Any]:
    embedded = {key: value for key, value in undone.items() if key != "@context"}
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#undos/{undo_id}",
        "type": "Undo",
        "actor": actor,
        "to": undone.get("to", []),
        "cc": undone.get("cc", []),
        "object": embedded,
    }


def like_activity(actor: str, status_uri: str, author: str, like_id: int) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#likes/{like_id}",
        "type": "Like",
        "actor": actor,
        "to": [author],
        "object": status_uri,
    }


def announce_activity(
    actor: str,
    followers: str,
    status_uri: str,
    author: str,
    activity_id: str,
    published: str,
    *,
    followers_only: bool = False,
) -> dict[str, Any]:
    """A boost: public, to the booster's followers and the author (Mastodon's shape). A
    self-boost of a followers-only post stays followers-only, as on Mastodon: announcing
    it publicly would reveal the private post's address."""
    to, cc = ([followers], []) if followers_only else ([PUBLIC], [author, followers])
    return {
        "@context": AS_CONTEXT,
        "id": activity_id,
        "type": "Announce",
        "actor": actor,
        "published": published,
        "to": to,
        "cc": cc,
        "object": status_uri,
    }


def delete_activity(
    actor: str, object_id: str, to: list[str], cc: list[str], delete_id: int
) -> dict[str, Any]:
    """Delete a Note (a Tombstone is sent) or the actor itself (object = actor)."""
    obj: Any = actor if object_id == actor else {"id": object_id, "type": "Tombstone"}
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#deletes/{delete_id}",
        "type": "Delete",
        "actor": actor,
        "to": to,
        "cc": cc,
        "object": obj,
    }


def update_activity(
    actor: str, obj: dict[str, Any], update_id: int, to: list[str], cc: list[str]
) -> dict[str, Any]:
    embedded = {key: value for key, value in obj.items() if key != "@context"}
    return {
        "@context": obj.get("@context", NOTE_CONTEXT),
        "id": f"{actor}#updates/{update_id}",
        "type": "Update",
        "actor": actor,
        "to": to,
        "cc": cc,
        "object": embedded,
    }


def block_activity(actor: str, target: str, block_id: int) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#blocks/{block_id}",
        "type": "Block",
        "actor": actor,
        "object": target,
    }


def move_activity(actor: str, followers: str, target: str, move_id: int) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#moves/{move_id}",
        "type": "Move",
        "actor": actor,
        "to": [followers],
        "object": actor,
        "target": target,
    }


def collection_change(
    kind: str, actor: str, collection: str, status_uri: str, change_id: int
) -> dict[str, Any]:
    """Add or Remove a status to or from a collection (pinning: the featured one)."""
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}#{kind.lower()}s/{change_id}",
        "type": kind,
        "actor": actor,
        "to": [PUBLIC],
        "object": status_uri,
        "target": collection,
    }
