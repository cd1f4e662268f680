"""Remote Notes, Articles, Pages and Questions → `ParsedNote` (pure).

Content HTML goes through the allow-list sanitiser here, on the way in; arrays are capped
(tags, mentions, emoji, attachments, poll options, recipients: SECURITY.md checklist 21).
Visibility is computed from the addressing, accepting every public form (PEERS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actors.parse import http_url
from fedserver.activitystreams import as_list, get_id, is_public_address
from fedserver.errors import InvalidActivity
from fedserver.sanitize import sanitize_html
from fedserver.textlimits import (
    MAX_ATTACHMENTS,
    MAX_CONTENT_CHARS,
    MAX_EMOJIS,
    MAX_MENTIONS,
    MAX_NAME_CHARS,
    MAX_POLL_OPTIONS,
    MAX_RECIPIENTS,
    MAX_SUMMARY_CHARS,
    MAX_TAGS,
    clean_text,
)

NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question"})
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}


@dataclass(frozen=True)
class ParsedAttachment:
    url: str
    type: str
    media_type: str | None
    description: str
    blurhash: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class ParsedPoll:
    multiple: bool
    expires_at: str | None
    options: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ParsedNote:
    uri: str
    object_type: str
    attributed_to: str
    url: str | None
    content: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    published: datetime | None
    updated: datetime | None
    in_reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    mentions: tuple[str, ...]
    hashtags: tuple[str, ...]
    emojis: tuple[tuple[str, str], ...]
    attachments: tuple[ParsedAttachment, ...]
    poll: ParsedPoll | None

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc


def parse_note(obj: Any) -> ParsedNote:
    if not isinstance(obj, dict):
        raise InvalidActivity("object: expected an embedded object")
    uri = http_url(obj.get("id"))
    if uri is None:
        raise InvalidActivity("object id: expected an http(s) URL")
    types = [t for t in as_list(obj.get("type")) if isinstance(t, str)]
    object_type = next((t for t in types if t in NOTE_TYPES), None)
    if object_type is None:
        raise InvalidActivity(f"object type {types!r} is not a Note, Article, Page or Question")
    attributed_to = http_url(next(iter(as_list(obj.get("attributedTo"))), None))
    if attributed_to is None:
        raise InvalidActivity("attributedTo: expected an actor URL")
    content, language = _content(obj)
    if object_type in ("Article", "Page") and isinstance(obj.get("name"), str):
        # Mastodon shows an Article's title above its text; do the same.
        title = clean_text(obj["name"], MAX_NAME_CHARS)
        content = f"<p><strong>{_escape(title)}</strong></p>{content}"
    tags = [t for t in as_list(obj.get("tag"))[: MAX_TAGS * 3] if isinstance(t, dict)]
    return ParsedNote(
        uri=uri,
        object_type=object_type,
        attributed_to=attributed_to,
        url=http_url(next(iter(as_list(obj.get("url"))), None)),
        content=sanitize_html(content),
        spoiler_text=clean_text(obj.get("summary"), MAX_SUMMARY_CHARS),
        sensitive=obj.get("sensitive") is True,
        language=language,
        published=parse_time(obj.get("published")),
        updated=parse_time(obj.get("updated")),
        in_reply_to=http_url(obj.get("inReplyTo")),
        to=_recipients(obj.get("to")),
        cc=_recipients(obj.get("cc")),
        mentions=tuple(
            url
            for url in (http_url(t.get("href")) for t in tags if t.get("type") == "Mention")
            if url is not None
        )[:MAX_MENTIONS],
        hashtags=tuple(
            name
            for name in (_hashtag(t.get("name")) for t in tags if t.get("type") == "Hashtag")
            if name
        )[:MAX_TAGS],
        emojis=tuple(
            emoji for emoji in (_emoji(t) for t in tags if t.get("type") == "Emoji") if emoji
        )[:MAX_EMOJIS],
        attachments=tuple(
            a
            for a in (_attachment(i) for i in as_list(obj.get("attachment"))[:MAX_ATTACHMENTS])
            if a
        ),
        poll=_poll(obj) if object_type == "Question" else None,
    )


def visibility_of(to: tuple[str, ...], cc: tuple[str, ...], followers_url: str | None) -> str:
    """Mastodon's reading of addressing: Public in `to` is public, in `cc` unlisted; the
    author's followers collection is followers-only; anything else is direct."""
    if any(is_public_address(r) for r in to):
        return "public"
    if any(is_public_address(r) for r in cc):
        return "unlisted"
    if followers_url is not None and followers_url in to + cc:
        return "private"
    return "direct"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _content(obj: dict[str, Any]) -> tuple[str, str | None]:
    content = obj.get("content")
    language = None
    content_map = obj.get("contentMap")
    if isinstance(content_map, dict) and content_map:
        language, mapped = next(iter(content_map.items()))
        if not isinstance(content, str) and isinstance(mapped, str):
            content = mapped
        language = clean_text(language, 16) or None
    return clean_text(content, MAX_CONTENT_CHARS), language


def _recipients(value: Any) -> tuple[str, ...]:
    # Peers send `to` as a bare string or a list (PEERS.md: GoToSocial).
    found = (get_id(item) for item in as_list(value)[:MAX_RECIPIENTS])
    return tuple(r for r in found if r is not None)


def _hashtag(value: Any) -> str:
    name = clean_text(value, 100).lstrip("#").lower()
    return name if name and all(c.isalnum() or c == "_" for c in name) else ""


def _emoji(tag: dict[str, Any]) -> tuple[str, str] | None:
    shortcode = clean_text(tag.get("name"), 100).strip(":")
    icon = tag.get("icon")
    url = http_url(icon.get("url")) if isinstance(icon, dict) else None
    if not shortcode or url is None or not all(c.isalnum() or c == "_" for c in shortcode):
        return None
    return shortcode, url


def _attachment(item: Any) -> ParsedAttachment | None:
    if not isinstance(item, dict):
        return None
    url = http_url(item.get("url") if not isinstance(item.get("url"), list) else item["url"][0])
    if url is None:
        return None
    media_type = clean_text(item.get("mediaType"), 100) or None
    kind = MEDIA_TYPES.get((media_type or "").split("/", 1)[0], "unknown")
    return ParsedAttachment(
        url=url,
        type=kind,
        media_type=media_type,
        description=clean_text(item.get("name"), 1500),
        blurhash=clean_text(item.get("blurhash"), 100) or None,
        width=_dimension(item.get("width")),
        height=_dimension(item.get("height")),
    )


def _dimension(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000
        else None
    )


def _poll(obj: dict[str, Any]) -> ParsedPoll:
    multiple = "anyOf" in obj
    options = []
    for item in as_list(obj.get("anyOf") if multiple else obj.get("oneOf"))[:MAX_POLL_OPTIONS]:
        if not isinstance(item, dict):
            continue
        replies = item.get("replies")
        votes = replies.get("totalItems") if isinstance(replies, dict) else 0
        count = (
            votes if isinstance(votes, int) and not isinstance(votes, bool) and votes >= 0 else 0
        )
        options.append((clean_text(item.get("name"), 200), count))
    end = parse_time(obj.get("endTime") or obj.get("closed"))
    return ParsedPoll(
        multiple=multiple,
        expires_at=end.isoformat() if end else None,
        options=tuple(options),
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
