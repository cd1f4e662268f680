"""Remote actor documents → `RemoteActor` (pure). Every field is hostile: typed, capped,
URLs checked, HTML sanitised (SECURITY.md R8, R10)."""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import as_list, get_id
from fedserver.db import RemoteActor
from fedserver.errors import InvalidActivity
from fedserver.sanitize import sanitize_html
from fedserver.textlimits import (
    MAX_ALIASES,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_URL_CHARS,
    clean_text,
)
from fedserver.urlparts import is_http_url, netloc

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})


def http_url(value: Any) -> str | None:
    """An absolute http(s) URL, or None."""
    url = get_id(value)
    if url is None or len(url) > MAX_URL_CHARS or not is_http_url(url):
        return None
    return url


def _image_url(value: Any) -> str | None:
    for item in as_list(value)[:1]:
        if isinstance(item, dict):
            return http_url(item.get("url"))
        return http_url(item)
    return None


def parse_actor(document: dict[str, Any]) -> RemoteActor:
    uri = http_url(document.get("id"))
    if uri is None:
        raise InvalidActivity("actor id: expected an http(s) URL")
    types = [t for t in as_list(document.get("type")) if isinstance(t, str)]
    actor_type = next((t for t in types if t in ACTOR_TYPES), None)
    if actor_type is None:
        raise InvalidActivity(f"actor {uri}: type {types!r} is not an actor type")
    inbox = http_url(document.get("inbox"))
    if inbox is None:
        raise InvalidActivity(f"actor {uri}: inbox must be an http(s) URL")
    username = clean_text(document.get("preferredUsername"), 100)
    if not username or any(c.isspace() or c in "@/:" for c in username):
        raise InvalidActivity(f"actor {uri}: preferredUsername is missing or malformed")
    endpoints = document.get("endpoints")
    shared = http_url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
    key = next((k for k in as_list(document.get("publicKey")) if isinstance(k, dict)), None)
    fields = []
    for item in as_list(document.get("attachment"))[:MAX_FIELDS]:
        if isinstance(item, dict) and item.get("type") == "PropertyValue":
            fields.append(
                (
                    clean_text(item.get("name"), MAX_NAME_CHARS),
                    sanitize_html(clean_text(item.get("value"), MAX_SUMMARY_CHARS)),
                )
            )
    aliases = [http_url(a) for a in as_list(document.get("alsoKnownAs"))[:MAX_ALIASES]]
    return RemoteActor(
        uri=uri,
        username=username,
        domain=netloc(uri).lower(),
        actor_type=actor_type,
        url=http_url(document.get("url")),
        inbox=inbox,
        shared_inbox=shared,
        outbox=http_url(document.get("outbox")),
        followers=http_url(document.get("followers")),
        following=http_url(document.get("following")),
        featured=http_url(document.get("featured")),
        display_name=clean_text(document.get("name"), MAX_NAME_CHARS),
        summary=sanitize_html(clean_text(document.get("summary"), MAX_SUMMARY_CHARS)),
        avatar_url=_image_url(document.get("icon")),
        header_url=_image_url(document.get("image")),
        manually_approves_followers=document.get("manuallyApprovesFollowers") is True,
        discoverable=document.get("discoverable") is True,
        indexable=document.get("indexable") is True,
        bot=actor_type in ("Service", "Application"),
        also_known_as=tuple(a for a in aliases if a is not None),
        moved_to=http_url(document.get("movedTo")),
        fields=tuple(fields),
        public_key_id=http_url(key.get("id")) if key else None,
        public_key_pem=key.get("publicKeyPem")
        if key and isinstance(key.get("publicKeyPem"), str)
        else None,
    )


#: FEP-844e: an actor lists the specifications it implements; RFC 9421 is named by its URL.
RFC9421_HREFS = frozenset(
    {"https://datatracker.ietf.org/doc/html/rfc9421", "https://www.rfc-editor.org/rfc/rfc9421"}
)


def advertises_rfc9421(document: dict[str, Any]) -> bool:
    """Whether an actor advertises RFC 9421 HTTP Message Signatures (FEP-844e `implements`).

    >>> advertises_rfc9421({"implements": [{"href": "https://datatracker.ietf.org/doc/html/rfc9421"}]})
    True
    """
    for item in as_list(document.get("implements"))[:32]:
        href = item.get("href") if isinstance(item, dict) else item
        if isinstance(href, str) and href.rstrip("/").split("#")[0] in RFC9421_HREFS:
            return True
    return False
