"""What the scenarios send: keys, activities shaped like Mastodon's, signed requests.

Requests are signed with `fedserver.signatures.sign_cavage` the way Mastodon signs
(`(request-target) host date digest content-type`), before the measured window.
Remote actors share a small pool of RSA-2048 keys (generating one costs ~0.1 s; a
thousand would take minutes): every actor still has its own keyId, so the server
fetches, parses and caches one key per actor exactly as it would with distinct keys.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from bench.loadgen import Request
from fedserver.signatures import generate_rsa_key, public_key_pem, sign_cavage

ACTIVITY_JSON = "application/activity+json"
AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
KEY_POOL_SIZE = 4


@cache
def key_pool() -> tuple[rsa.RSAPrivateKey, ...]:
    return tuple(generate_rsa_key() for _ in range(KEY_POOL_SIZE))


@cache
def public_pems() -> tuple[str, ...]:
    return tuple(public_key_pem(key) for key in key_pool())


def now() -> datetime:
    return datetime.now(UTC)


def note_content(serial: int, mention: str | None) -> str:
    """About 800 characters of HTML: a mention, a link and a hashtag."""
    parts = ["<p>"]
    if mention:
        parts.append(
            f'<span class="h-card"><a href="{mention}" class="u-url mention">'
            "@<span>alice</span></a></span> "
        )
    parts.append(
        f"Benchmark note number {serial}. Benchmarks are only as good as the workload "
        "they model, so this note carries what an inbox receives all day: a link to "
        '<a href="https://example.org/some/article" rel="nofollow noopener" '
        'target="_blank">example.org/some/article</a>, some text long enough to be a '
        "real post about nothing in particular, and a hashtag "
        '<a href="https://remote.example/tags/fediverse" class="mention hashtag" '
        'rel="tag">#<span>fediverse</span></a></p>'
    )
    return "".join(parts)


def create_note(
    actor_uri: str,
    serial: int,
    *,
    mention: str | None = None,
    published: str = "2026-11-21T11:59:58Z",
) -> dict[str, Any]:
    """A Create(Note) of about 2 KB, as Mastodon delivers it; `mention` is the actor URI
    of a local account named in the note (it then gets a notification)."""
    note_id = f"{actor_uri}/statuses/{serial}"
    content = note_content(serial, mention)
    cc = [f"{actor_uri}/followers"] + ([mention] if mention else [])
    tags: list[dict[str, str]] = [
        {"type": "Hashtag", "href": "https://remote.example/tags/fediverse", "name": "#fediverse"}
    ]
    if mention:
        tags.insert(0, {"type": "Mention", "href": mention, "name": "@alice"})
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {
                "ostatus": "http://ostatus.org#",
                "sensitive": "as:sensitive",
                "Hashtag": "as:Hashtag",
            },
        ],
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor_uri,
        "published": published,
        "to": [AS_PUBLIC],
        "cc": cc,
        "object": {
            "id": note_id,
            "type": "Note",
            "summary": None,
            "inReplyTo": None,
            "published": published,
            "url": f"{actor_uri}/{serial}",
            "attributedTo": actor_uri,
            "to": [AS_PUBLIC],
            "cc": cc,
            "sensitive": False,
            "content": content,
            "contentMap": {"en": content},
            "attachment": [],
            "tag": tags,
            "replies": {
                "id": f"{note_id}/replies",
                "type": "Collection",
                "first": {
                    "type": "CollectionPage",
                    "next": f"{note_id}/replies?only_other_accounts=true&page=true",
                    "partOf": f"{note_id}/replies",
                    "items": [],
                },
            },
        },
    }


def signed_post(
    base_url: str,
    path: str,
    document: dict[str, Any],
    *,
    key_id: str,
    key: rsa.RSAPrivateKey,
    when: datetime | None = None,
) -> Request:
    body = json.dumps(document).encode()
    headers = {"Content-Type": ACTIVITY_JSON}
    signed = sign_cavage(
        "POST",
        base_url + path,
        headers,
        body,
        key_id=key_id,
        private_key=key,
        now=when or now(),
        extra_signed=["content-type"],
    )
    return ("POST", path, [*headers.items(), *signed.items()], body)


def signed_get(
    base_url: str, path: str, *, key_id: str, key: rsa.RSAPrivateKey, accept: str = ACTIVITY_JSON
) -> Request:
    headers = {"Accept": accept}
    signed = sign_cavage(
        "GET", base_url + path, headers, None, key_id=key_id, private_key=key, now=now()
    )
    return ("GET", path, [*headers.items(), *signed.items()], b"")


def plain_get(path: str, headers: dict[str, str] | None = None) -> Request:
    return ("GET", path, list((headers or {}).items()), b"")
