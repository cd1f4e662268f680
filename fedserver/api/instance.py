"""The client API: the instance (https://docs.joinmastodon.org/methods/instance/), custom
emoji, preferences and timeline markers.

`version` reads `4.3.0 (compatible; fedserver X.Y.Z)`: clients parse the Mastodon version
in front (CLIENTS.md: never `4.3.0+...`, which Mastodon.py reads as version X.Y.Z). Limits
come from `[limits]`; what is not implemented says so honestly: no media uploads
(`max_media_attachments` 0, no MIME types), no featured tags, no translation, no streaming
server (the URL clients derive is given, and answers 404).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from fedserver import __version__
from fedserver.api.auth import require_user
from fedserver.api.entities import marker_entity
from fedserver.api.params import Params
from fedserver.api.present import presenter_for
from fedserver.api.routing import ApiRoutes
from fedserver.appkeys import clock_key, config_key, domain_policy_key, store_key
from fedserver.config import Config
from fedserver.errors import UnprocessableEntity
from fedserver.responses import json_response

routes = ApiRoutes()

MASTODON_VERSION = "4.3.0"
VERSION = f"{MASTODON_VERSION} (compatible; fedserver {__version__})"
#: Mastodon API revision of /api/v2/instance `api_versions` (Mastodon.py warns without).
MASTODON_API_VERSION = 2
#: Mastodon's defaults for what fedserver does not configure (yet).
CHARACTERS_RESERVED_PER_URL = 23
MAX_PINNED_STATUSES = 5
FIELD_CHARS = 255
POLLS = {
    "max_options": 4,
    "max_characters_per_option": 50,
    "min_expiration": 300,
    "max_expiration": 2_629_746,
}
#: No uploads yet: nothing is accepted.
MEDIA_ATTACHMENTS = {
    "supported_mime_types": [],
    "image_size_limit": 0,
    "image_matrix_limit": 0,
    "video_size_limit": 0,
    "video_frame_rate_limit": 0,
    "video_matrix_limit": 0,
}
TIMELINES = ("home", "notifications")


def _streaming_url(config: Config) -> str:
    scheme = "wss" if config.base_url.startswith("https:") else "ws"
    return f"{scheme}://{config.base_url.split('://', 1)[1]}"


def _thumbnail(config: Config) -> str:
    # Like Mastodon's default preview image when the admin set none.
    return f"{config.base_url}/static/header.png"


def _rules(config: Config) -> list[dict[str, Any]]:
    return [
        {"id": str(number), "text": text, "hint": ""}
        for number, text in enumerate(config.registrations.rules, start=1)
    ]


async def _contact_account(request: web.Request) -> dict[str, Any] | None:
    """The first administrator, the nearest thing to Mastodon's configured contact."""
    admin = await request.app[store_key].accounts.first_admin()
    if admin is None:
        return None
    return await presenter_for(request, None).account(admin.account)


@routes.get("/api/v1/instance")
async def instance_v1(request: web.Request) -> web.Response:
    config = request.app[config_key]
    store = request.app[store_key]
    now = request.app[clock_key]()
    usage = await store.accounts.usage(now - timedelta(days=30), now - timedelta(days=180))
    domains = await _peers(request)
    instance = config.instance
    mode = config.registrations.mode
    return json_response(
        {
            "uri": config.domain,
            "title": instance.name,
            "short_description": instance.description,
            "description": instance.description,
            "email": instance.contact_email,
            "version": VERSION,
            "urls": {"streaming_api": _streaming_url(config)},
            "stats": {
                "user_count": usage.users_total,
                "status_count": usage.local_posts,
                "domain_count": len(domains),
            },
            "thumbnail": _thumbnail(config),
            "languages": list(instance.languages),
            "registrations": mode != "closed",
            "approval_required": mode == "approval",
            "invites_enabled": False,
            "configuration": {
                "accounts": {"max_featured_tags": 0},
                "statuses": _statuses_configuration(config),
                "media_attachments": MEDIA_ATTACHMENTS,
                "polls": POLLS,
            },
            "contact_account": await _contact_account(request),
            "rules": _rules(config),
        }
    )


def _statuses_configuration(config: Config) -> dict[str, Any]:
    return {
        "max_characters": config.limits.max_status_chars,
        "max_media_attachments": 0,
        "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
    }


@routes.get("/api/v2/instance")
async def instance_v2(request: web.Request) -> web.Response:
    config = request.app[config_key]
    store = request.app[store_key]
    now = request.app[clock_key]()
    usage = await store.accounts.usage(now - timedelta(days=30), now - timedelta(days=180))
    instance = config.instance
    registrations = config.registrations
    limits = config.limits
    return json_response(
        {
            "domain": config.domain,
            "title": instance.name,
            "version": VERSION,
            # fedserver publishes no repository address: the instance's own is the
            # honest nearest (the schema requires one).
            "source_url": config.instance.source_url or f"{config.base_url}/",
            "description": instance.description,
            "usage": {"users": {"active_month": usage.users_active_month}},
            "thumbnail": {"url": _thumbnail(config)},
            "icon": [],
            "languages": list(instance.languages),
            "configuration": {
                "urls": {
                    "streaming": _streaming_url(config),
                    "status": None,
                    "about": None,
                    "privacy_policy": None,
                    "terms_of_service": None,
                },
                "accounts": {
                    "max_featured_tags": 0,
                    "max_pinned_statuses": MAX_PINNED_STATUSES,
                    "max_display_name_length": limits.max_display_name_chars,
                    "max_note_length": limits.max_bio_chars,
                    "max_profile_fields": limits.max_profile_fields,
                    "profile_field_name_limit": FIELD_CHARS,
                    "profile_field_value_limit": FIELD_CHARS,
                },
                "statuses": _statuses_configuration(config),
                "media_attachments": {**MEDIA_ATTACHMENTS, "description_limit": 0},
                "polls": POLLS,
                "translation": {"enabled": False},
            },
            "registrations": {
                "enabled": registrations.mode != "closed",
                "approval_required": registrations.mode == "approval",
                "reason_required": registrations.mode == "approval"
                and registrations.require_reason,
                "message": None,
                "url": None,
                "min_age": None,
            },
            "api_versions": {"mastodon": MASTODON_API_VERSION},
            "contact": {
                "email": instance.contact_email,
                "account": await _contact_account(request),
            },
            "rules": _rules(config),
        }
    )


async def _peers(request: web.Request) -> list[str]:
    """Domains we know accounts on, less those we refuse to federate with."""
    policy = request.app[domain_policy_key]
    known = await request.app[store_key].remote_accounts.known_domains()
    return [domain for domain in known if not policy.is_blocked(domain)]


@routes.get("/api/v1/instance/peers")
async def peers(request: web.Request) -> web.Response:
    return json_response(await _peers(request))


@routes.get("/api/v1/instance/rules")
async def rules(request: web.Request) -> web.Response:
    return json_response(_rules(request.app[config_key]))


@routes.get("/api/v1/custom_emojis")
async def custom_emojis(request: web.Request) -> web.Response:
    """Local custom emoji are not implemented: there are none to list."""
    return json_response([])


@routes.get("/api/v1/preferences")
async def preferences(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    return json_response(
        {
            "posting:default:visibility": user.user.default_visibility,
            "posting:default:sensitive": user.user.default_sensitive,
            "posting:default:language": user.user.default_language,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


# -- markers -----------------------------------------------------------------------------


@routes.get("/api/v1/markers")
async def get_markers(request: web.Request) -> web.Response:
    """`timeline[]=home&timeline[]=notifications` (all of them when none is named)."""
    user = await require_user(request, "read:statuses")
    params = await Params.read(request)
    wanted = set(params.strings("timeline")) or set(TIMELINES)
    markers = await request.app[store_key].markers.get(user.account.id)
    return json_response(
        {
            timeline: marker_entity(*marker)
            for timeline, marker in sorted(markers.items())
            if timeline in wanted
        }
    )


@routes.post("/api/v1/markers")
async def set_markers(request: web.Request) -> web.Response:
    """`home[last_read_id]=ID` (form) or `{"home": {"last_read_id": "ID"}}` (JSON)."""
    user = await require_user(request, "write:statuses")
    params = await Params.read(request)
    store = request.app[store_key]
    now = request.app[clock_key]()
    changed = []
    for timeline in TIMELINES:
        last_read_id = _last_read_id(params, timeline)
        if last_read_id is not None:
            await store.markers.set(user.account.id, timeline, last_read_id, now)
            changed.append(timeline)
    if not changed:
        raise UnprocessableEntity("name home[last_read_id] or notifications[last_read_id]")
    markers = await store.markers.get(user.account.id)
    return json_response({timeline: marker_entity(*markers[timeline]) for timeline in changed})


def _last_read_id(params: Params, timeline: str) -> str | None:
    value = params.raw(f"{timeline}[last_read_id]")
    if value is None:
        nested = params.mapping(timeline)
        if isinstance(nested, dict):
            value = nested.get("last_read_id")
            if isinstance(value, dict):  # form keys read as a nested mapping
                value = value.get("")
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 19:
        raise UnprocessableEntity(f"{timeline}[last_read_id] must be an id")
    return text
