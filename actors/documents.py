"""Actor, key and collection documents (pure: values in, JSON-ready dicts out).

The Person follows Mastodon's shape, which every peer reads
(https://docs.joinmastodon.org/spec/activitypub/#profile), with the RSA key as
`publicKey` (https://docs.joinmastodon.org/spec/security/#http) and the Ed25519 key as an
FEP-521a `assertionMethod` Multikey (https://codeberg.org/fediverse/fep/src/branch/main/fep/521a/fep-521a.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fedserver.activitystreams import (
    AS_CONTEXT,
    MASTODON_EXTENSIONS,
    MULTIKEY_CONTEXT,
    SECURITY_CONTEXT,
)
from fedserver.db import AccountRow
from fedserver.ids import isoformat
from fedserver.keypairs import PublicKeys
from fedserver.urls import LocalUrls

ACTOR_CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT, MULTIKEY_CONTEXT, MASTODON_EXTENSIONS]
#: FEP-844e: what we implement, so peers may sign for us with RFC 9421 directly.
IMPLEMENTS = [
    {
        "href": "https://datatracker.ietf.org/doc/html/rfc9421",
        "name": "RFC-9421: HTTP Message Signatures",
    }
]


def person_document(account: AccountRow, keys: PublicKeys, urls: LocalUrls) -> dict[str, Any]:
    """The actor document of a local account."""
    name = account.username
    actor_id = urls.actor(name)
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Service" if account.bot else "Person",
        "preferredUsername": name,
        "name": account.display_name,
        "summary": account.summary,
        "url": urls.profile_page(name),
        "inbox": urls.inbox(name),
        "outbox": urls.outbox(name),
        "followers": urls.followers(name),
        "following": urls.following(name),
        "featured": urls.featured(name),
        "endpoints": {"sharedInbox": urls.shared_inbox()},
        "published": isoformat(account.created_at),
        "manuallyApprovesFollowers": account.manually_approves_followers,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "alsoKnownAs": list(account.also_known_as),
        "attachment": [
            {"type": "PropertyValue", "name": field.name, "value": field.value}
            for field in account.fields
        ],
        "tag": [],
        "publicKey": public_key_document(urls.main_key(name), actor_id, keys.rsa_pem),
        "assertionMethod": [
            multikey_document(urls.ed25519_key(name), actor_id, keys.ed25519_multikey)
        ],
        "implements": IMPLEMENTS,
    }
    if account.moved_to_uri:
        document["movedTo"] = account.moved_to_uri
    if account.avatar_url:
        document["icon"] = {"type": "Image", "url": account.avatar_url}
    if account.header_url:
        document["image"] = {"type": "Image", "url": account.header_url}
    return document


def instance_actor_document(
    urls: LocalUrls, username: str, keys: PublicKeys, instance_name: str
) -> dict[str, Any]:
    """The server's own actor (type Application), which signs server-side fetches."""
    actor_id = urls.instance_actor()
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Application",
        "preferredUsername": username,
        "name": instance_name,
        "url": urls.base_url + "/about",
        "inbox": actor_id + "/inbox",
        "outbox": actor_id + "/outbox",
        "endpoints": {"sharedInbox": urls.shared_inbox()},
        "manuallyApprovesFollowers": True,
        "publicKey": public_key_document(urls.instance_main_key(), actor_id, keys.rsa_pem),
        "assertionMethod": [
            multikey_document(urls.instance_ed25519_key(), actor_id, keys.ed25519_multikey)
        ],
        "implements": IMPLEMENTS,
    }


def public_key_document(key_id: str, owner: str, pem: str) -> dict[str, str]:
    return {"id": key_id, "owner": owner, "publicKeyPem": pem}


def multikey_document(key_id: str, controller: str, multibase: str) -> dict[str, str]:
    return {
        "id": key_id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": multibase,
    }


def tombstone_document(object_id: str, deleted_at: datetime | None) -> dict[str, Any]:
    """What a deleted actor or object answers with (HTTP 410)."""
    document: dict[str, Any] = {"@context": AS_CONTEXT, "id": object_id, "type": "Tombstone"}
    if deleted_at is not None:
        document["deleted"] = isoformat(deleted_at)
    return document


def ordered_collection(collection_id: str, total: int, *, first: str | None) -> dict[str, Any]:
    """An OrderedCollection that links to its first page (Mastodon's shape)."""
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        document["first"] = first
    return document


def ordered_collection_page(
    page_id: str,
    collection_id: str,
    items: Sequence[Any],
    *,
    total: int,
    next_page: str | None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "totalItems": total,
        "orderedItems": list(items),
    }
    if next_page is not None:
        document["next"] = next_page
    return document


def page_url(collection_id: str, before: int | None) -> str:
    """Collection pages are cursor-based: `?page=true`, then `?page=true&max_id=N`."""
    return collection_id + "?page=true" + (f"&max_id={before}" if before is not None else "")
