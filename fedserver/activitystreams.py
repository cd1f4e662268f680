"""ActivityStreams vocabulary helpers and content negotiation (pure).

https://www.w3.org/TR/activitystreams-core/ and https://www.w3.org/TR/activitypub/
"""

from __future__ import annotations

from typing import Any

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Peers address the public collection in three spellings (PEERS.md: bovine sends
# "as:Public"); accept all of them, emit only the full URI.
PUBLIC_FORMS = frozenset({PUBLIC, "as:Public", "Public"})

ACTIVITY_JSON = "application/activity+json"
LD_JSON = "application/ld+json"
#: Mastodon's extension terms, so that peers doing JSON-LD processing read our fields.
MASTODON_EXTENSIONS: dict[str, Any] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "Emoji": "toot:Emoji",
    "sensitive": "as:sensitive",
}

_ACTIVITY_TYPES = {ACTIVITY_JSON, LD_JSON, "application/json"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}


def as_list(value: Any) -> list[Any]:
    """A property that may be absent, a single value, or an array, as a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def get_id(value: Any) -> str | None:
    """The id of a property that is either a bare IRI or an object with an `id`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("id")
        return inner if isinstance(inner, str) else None
    return None


def is_public_address(value: Any) -> bool:
    return isinstance(value, str) and value in PUBLIC_FORMS


def wants_activity_json(accept: str | None) -> bool:
    """Whether an Accept header prefers an ActivityStreams document over an HTML page.

    Peers send `application/activity+json` or `application/ld+json; profile=...`;
    browsers send `text/html,...,*/*;q=0.8`. An explicitly named type beats a wildcard
    of equal weight, and HTML wins ties, so a browser never gets JSON by accident.

    >>> wants_activity_json('application/ld+json; profile="https://www.w3.org/ns/activitystreams"')
    True
    >>> wants_activity_json("text/html,application/xhtml+xml,*/*;q=0.8")
    False
    """
    best_activity = best_html = (0.0, 0)
    for media_type, quality in _parse_accept(accept or ""):
        if media_type in _ACTIVITY_TYPES:
            best_activity = max(best_activity, (quality, 1))
        elif media_type in _HTML_TYPES:
            best_html = max(best_html, (quality, 1))
        elif media_type in ("*/*", "application/*"):
            best_activity = max(best_activity, (quality, 0))
            if media_type == "*/*":
                best_html = max(best_html, (quality, 0))
    return best_activity[0] > 0 and best_activity > best_html


def _parse_accept(header: str) -> list[tuple[str, float]]:
    result = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media_type = pieces[0].lower()
        if not media_type:
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        result.append((media_type, quality))
    return result
