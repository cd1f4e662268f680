"""WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo documents (pure).

Mastodon's WebFinger shape: https://docs.joinmastodon.org/spec/webfinger/
NodeInfo: https://github.com/jhass/nodeinfo/blob/main/PROTOCOL.md
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from fedserver import __version__
from fedserver.activitystreams import ACTIVITY_JSON
from fedserver.db import UsageStats
from fedserver.errors import BadRequest, NotFound
from fedserver.urls import LocalUrls

NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/{version}"
NODEINFO_VERSIONS = ("2.0", "2.1")
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
MAX_RESOURCE_LENGTH = 512


@dataclass(frozen=True)
class WebFingerQuery:
    """Who a WebFinger resource names on this server."""

    username: str
    #: True when the resource named the instance actor.
    is_instance_actor: bool = False


def parse_resource(
    resource: str | None, urls: LocalUrls, domain: str, instance_username: str
) -> WebFingerQuery:
    """Read `acct:user@domain`, `user@domain` or a local actor URL.

    Raises BadRequest for a malformed resource and NotFound for one that is not ours.

    >>> urls = LocalUrls("https://example.com")
    >>> parse_resource("acct:Alice@example.com", urls, "example.com", "example.com")
    WebFingerQuery(username='Alice', is_instance_actor=False)
    """
    if not resource:
        raise BadRequest("the resource parameter is required")
    if len(resource) > MAX_RESOURCE_LENGTH:
        raise BadRequest(f"resource is longer than {MAX_RESOURCE_LENGTH} characters")
    if resource.startswith(("https://", "http://")):
        return _parse_url(resource, urls, instance_username)
    account = resource.removeprefix("acct:").lstrip("@")
    username, at, host = account.rpartition("@")
    if not at or not username or not host or "@" in username:
        raise BadRequest("resource must look like acct:user@domain")
    if host.lower() != domain:
        raise NotFound(f"{host} is not this server's domain")
    if username.lower() == instance_username.lower():
        return WebFingerQuery(username=instance_username, is_instance_actor=True)
    return WebFingerQuery(username=username)


def _parse_url(resource: str, urls: LocalUrls, instance_username: str) -> WebFingerQuery:
    if resource == urls.instance_actor():
        return WebFingerQuery(username=instance_username, is_instance_actor=True)
    base = urls.base_url
    for prefix in (base + "/users/", base + "/@"):
        if resource.startswith(prefix):
            name = unquote(resource[len(prefix) :])
            if name and "/" not in name and "?" not in name and "#" not in name:
                return WebFingerQuery(username=name)
    if urlsplit(resource).netloc != urlsplit(base).netloc:
        raise NotFound("that URL is not on this server")
    raise NotFound("that URL does not name an account")


def user_jrd(username: str, domain: str, urls: LocalUrls) -> dict[str, Any]:
    actor = urls.actor(username)
    page = urls.profile_page(username)
    return {
        "subject": f"acct:{username}@{domain}",
        "aliases": [page, actor],
        "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": page},
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor},
            {
                "rel": SUBSCRIBE_REL,
                "template": urls.base_url + "/authorize_interaction?uri={uri}",
            },
        ],
    }


def instance_actor_jrd(username: str, domain: str, urls: LocalUrls) -> dict[str, Any]:
    actor = urls.instance_actor()
    return {
        "subject": f"acct:{username}@{domain}",
        "aliases": [actor],
        "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": urls.base_url + "/about"},
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor},
        ],
    }


def lrdd_template(base_url: str) -> str:
    return base_url + "/.well-known/webfinger?resource={uri}"


def host_meta_json(base_url: str) -> dict[str, Any]:
    return {"links": [{"rel": "lrdd", "template": lrdd_template(base_url)}]}


def nodeinfo_links(base_url: str) -> dict[str, Any]:
    return {
        "links": [
            {
                "rel": NODEINFO_SCHEMA.format(version=version),
                "href": f"{base_url}/nodeinfo/{version}",
            }
            for version in NODEINFO_VERSIONS
        ]
    }


def nodeinfo_document(
    version: str,
    usage: UsageStats,
    *,
    open_registrations: bool,
    node_name: str,
    node_description: str,
) -> dict[str, Any]:
    """NodeInfo 2.0 or 2.1 with real usage counts."""
    if version not in NODEINFO_VERSIONS:
        raise NotFound(f"NodeInfo {version} is not served; try 2.0 or 2.1")
    software: dict[str, Any] = {"name": "fedserver", "version": __version__}
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": usage.users_total,
                "activeMonth": usage.users_active_month,
                "activeHalfyear": usage.users_active_halfyear,
            },
            "localPosts": usage.local_posts,
        },
        "metadata": {"nodeName": node_name, "nodeDescription": node_description},
    }
