"""The client API: accounts (https://docs.joinmastodon.org/methods/accounts/).

One's own profile (verify_credentials, update_credentials), any account's profile,
statuses, followers and following, and account search. The relationship endpoints
(follow, block, mute, follow requests, the block and mute lists) are in
`relationships.py`; `routes` here carries both tables.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from actors.documents import person_document
from fedserver.api import relationships
from fedserver.api.auth import optional_user, require_user
from fedserver.api.paging import paged_response, read_page
from fedserver.api.params import Params
from fedserver.api.present import presenter_for
from fedserver.api.relationships import account_from_path, accounts_response
from fedserver.api.routing import ApiRoutes
from fedserver.api.search import find_accounts
from fedserver.appkeys import (
    clock_key,
    config_key,
    local_actors_key,
    local_keys_key,
    outbox_key,
    store_key,
)
from fedserver.config import Config
from fedserver.db import AccountRow, LocalUser
from fedserver.db.statuses import AccountStatusFilter
from fedserver.errors import Forbidden, NotFound, UnprocessableEntity
from fedserver.responses import json_response
from fedserver.textlimits import clean_text
from fedserver.urls import LocalUrls
from outbox.service import VISIBILITIES
from outbox.text import URL_RE, render_html

_routes = ApiRoutes()

#: Mastodon's limit on a profile field's name and on its value.
FIELD_CHARS = 255
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})*")


# -- one's own profile -----------------------------------------------------------------


async def _profile_reader(request: web.Request) -> LocalUser:
    """verify_credentials takes `read:accounts` or the OAuth `profile` scope."""
    try:
        return await require_user(request, "read:accounts")
    except Forbidden:
        return await require_user(request, "profile")


@_routes.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(request: web.Request) -> web.Response:
    user = await _profile_reader(request)
    return json_response(await presenter_for(request, user.account).credential_account(user))


@dataclass(frozen=True)
class _Profile:
    """What update_credentials may change on the account (all federated)."""

    display_name: str
    summary: str
    locked: bool
    bot: bool
    discoverable: bool
    indexable: bool
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, account: AccountRow) -> _Profile:
        return cls(
            account.display_name,
            account.summary,
            account.manually_approves_followers,
            account.bot,
            account.discoverable,
            account.indexable,
            tuple((f.name, f.value) for f in account.fields),
        )


@_routes.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: web.Request) -> web.Response:
    """Profile and posting defaults; a profile change is federated as Update(Person).
    Avatar and header uploads are not implemented (there is no media storage yet)."""
    user = await require_user(request, "write:accounts")
    params = await Params.read(request)
    app = request.app
    store = app[store_key]
    account = user.account
    before = _Profile.of(account)
    profile = _read_profile(params, before, app[config_key])
    defaults = _posting_defaults(params, user)
    if profile != before:
        await store.accounts.update_profile(
            account.id,
            display_name=profile.display_name,
            summary=profile.summary,
            manually_approves_followers=profile.locked,
            bot=profile.bot,
            discoverable=profile.discoverable,
            indexable=profile.indexable,
            fields=list(profile.fields),
            also_known_as=list(account.also_known_as),
            now=app[clock_key](),
        )
    visibility, sensitive, language = defaults
    if defaults != (user.user.default_visibility, user.user.default_sensitive,
                    user.user.default_language):  # fmt: skip
        await store.accounts.update_preferences(
            user.user.id, visibility=visibility, sensitive=sensitive, language=language
        )
    # The actor document and WebFinger read local users through a cache: show it now.
    app[local_actors_key].invalidate(account.id)
    updated = await store.accounts.local_user_by_id(user.user.id)
    assert updated is not None
    outbox = app[outbox_key]
    if profile != before:
        keys = await app[local_keys_key].get(account.id)
        urls = LocalUrls(app[config_key].base_url)
        await outbox.announce_profile(
            updated.account, person_document(updated.account, keys.public, urls)
        )
    if before.locked and not profile.locked:
        # Unlocking accepts whoever was waiting, as Mastodon does.
        for requester_id in await store.follows.requester_ids(account.id):
            requester = await store.accounts.by_id(requester_id)
            if requester is not None:
                await outbox.answer_follow_request(updated.account, requester, accept=True)
    presenter = presenter_for(request, updated.account)
    return json_response(await presenter.credential_account(updated))


def _read_profile(params: Params, current: _Profile, config: Config) -> _Profile:
    """The profile with the request's changes, checked against `[limits]` (422)."""
    limits = config.limits
    display_name = current.display_name
    if params.has("display_name"):
        display_name = clean_text(params.string("display_name") or "", 10_000).strip()
        if len(display_name) > limits.max_display_name_chars:
            raise UnprocessableEntity(
                "Validation failed: Display name is too long (maximum is "
                f"{limits.max_display_name_chars} characters)"
            )
    summary = current.summary
    if params.has("note"):
        # Plain text, as on Mastodon: escaped, links and hashtags made links.
        note = clean_text(params.string("note", max_length=100_000) or "", 100_000).strip()
        if len(note) > limits.max_bio_chars:
            raise UnprocessableEntity(
                f"Validation failed: Note is too long (maximum is {limits.max_bio_chars}"
                " characters)"
            )
        summary = render_html(
            note, local_domain=config.domain, mentions={}, tag_url=f"{config.base_url}/tags/"
        )
    fields = _fields(params, limits.max_profile_fields)
    return _Profile(
        display_name=display_name,
        summary=summary,
        locked=bool(params.boolean("locked", current.locked)),
        bot=bool(params.boolean("bot", current.bot)),
        discoverable=bool(params.boolean("discoverable", current.discoverable)),
        indexable=bool(params.boolean("indexable", current.indexable)),
        fields=current.fields if fields is None else tuple(fields),
    )


def _fields(params: Params, maximum: int) -> list[tuple[str, str]] | None:
    """`fields_attributes` as forms (`fields_attributes[0][name]`) or JSON (a list, or
    an object keyed by index) send it; empty pairs are dropped, as on Mastodon."""
    raw = params.mapping("fields_attributes")
    if raw is None:
        return None
    if isinstance(raw, dict):
        items = [raw[key] for key in sorted(raw, key=_index_order)]
    elif isinstance(raw, list):
        items = raw
    else:
        raise UnprocessableEntity("fields_attributes must be a list of name and value pairs")
    fields = []
    for item in items:
        if not isinstance(item, dict):
            raise UnprocessableEntity("fields_attributes must be a list of name and value pairs")
        name = clean_text(str(item.get("name") or ""), 10_000).strip()
        value = clean_text(str(item.get("value") or ""), 10_000).strip()
        if not name and not value:
            continue
        if len(name) > FIELD_CHARS or len(value) > FIELD_CHARS:
            raise UnprocessableEntity(
                f"Validation failed: a profile field's name and value are at most {FIELD_CHARS}"
                " characters"
            )
        fields.append((name, _field_html(value)))
    if len(fields) > maximum:
        raise UnprocessableEntity(
            f"Validation failed: Fields is too long (maximum is {maximum} fields)"
        )
    return fields


def _index_order(key: str) -> tuple[int, str]:
    """Form indices sort as numbers ("10" after "9")."""
    return (int(key), "") if key.isdigit() and len(key) < 6 else (1_000_000, key)


def _field_html(value: str) -> str:
    """A field value as stored and federated: escaped text, a lone URL as a link."""
    escaped = html.escape(value)
    if URL_RE.fullmatch(value):
        return f'<a href="{escaped}" rel="me nofollow noopener noreferrer">{escaped}</a>'
    return escaped


def _posting_defaults(params: Params, user: LocalUser) -> tuple[str, bool, str | None]:
    """`source[privacy]`, `source[sensitive]`, `source[language]` (form keys or a JSON
    `source` object)."""
    nested = params.mapping("source")
    flat: dict[str, Any] = {}
    if isinstance(nested, dict):
        for key, value in nested.items():
            flat[str(key)] = value.get("") if isinstance(value, dict) else value
    source = Params(MultiDict(), flat)
    visibility = source.string("privacy") or user.user.default_visibility
    if visibility not in VISIBILITIES:
        raise UnprocessableEntity(f"source[privacy] must be one of {', '.join(VISIBILITIES)}")
    sensitive = bool(source.boolean("sensitive", user.user.default_sensitive))
    language = user.user.default_language
    if source.has("language"):
        language = (source.string("language") or "").strip() or None
        if language is not None and not _LANGUAGE.fullmatch(language):
            raise UnprocessableEntity("source[language] must be an ISO 639 language code")
    return visibility, sensitive, language


# -- anyone's profile ------------------------------------------------------------------


@_routes.get("/api/v1/accounts/lookup")
async def lookup(request: web.Request) -> web.Response:
    """`alice`, `@alice`, `alice@our.domain` or a known remote `bob@host` (no WebFinger)."""
    viewer = await optional_user(request, "read:accounts")
    params = await Params.read(request)
    config = request.app[config_key]
    store = request.app[store_key]
    username, _, host = (params.string("acct") or "").strip().lstrip("@").partition("@")
    account: AccountRow | None = None
    if username and (
        not host or host.lower() in (config.domain.lower(), config.instance.host.lower())
    ):
        user = await store.accounts.local_user(username)
        account = user.account if user else None
    elif username:
        account = await store.remote_accounts.by_acct(username, host)
    if account is None or account.is_deleted:
        raise NotFound("Record not found")
    return json_response(await presenter_for(request, _account_of(viewer)).account(account))


@_routes.get("/api/v1/accounts/search")
async def search(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    params = await Params.read(request)
    accounts = await find_accounts(
        request,
        user,
        params.string("q", "", max_length=2_000) or "",
        resolve=bool(params.boolean("resolve", False)),
        limit=max(1, min(params.integer("limit", 40) or 40, 80)),
        offset=max(0, params.integer("offset", 0) or 0),
        following=bool(params.boolean("following", False)),
    )
    return json_response(await presenter_for(request, user.account).accounts(accounts))


@_routes.get(r"/api/v1/accounts/{id:\d+}")
async def account(request: web.Request) -> web.Response:
    viewer = await optional_user(request, "read:accounts")
    target = await account_from_path(request)
    return json_response(await presenter_for(request, _account_of(viewer)).account(target))


@_routes.get(r"/api/v1/accounts/{id:\d+}/statuses")
async def account_statuses(request: web.Request) -> web.Response:
    """What the viewer may see (public and unlisted to anyone; followers-only to accepted
    followers; direct to those mentioned), newest first."""
    viewer = await optional_user(request, "read:statuses")
    target = await account_from_path(request)
    params = await Params.read(request)
    page = read_page(params)
    store = request.app[store_key]
    viewer_account = _account_of(viewer)
    if viewer_account is not None and await store.blocks.is_blocked(target.id, viewer_account.id):
        rows = []  # blocked by the author: nothing, as on Mastodon
    else:
        tagged = (params.string("tagged") or "").strip().lstrip("#").lower() or None
        filters = AccountStatusFilter(
            pinned=bool(params.boolean("pinned", False)),
            exclude_replies=bool(params.boolean("exclude_replies", False)),
            exclude_reblogs=bool(params.boolean("exclude_reblogs", False)),
            only_media=bool(params.boolean("only_media", False)),
            tagged=tagged,
        )
        rows = await store.statuses.by_account_for(
            target.id, viewer_account.id if viewer_account else None, page.window(), filters
        )
    items = await presenter_for(request, viewer_account).statuses(rows)
    return paged_response(request, list(items), [row.id for row in rows])


@_routes.get(r"/api/v1/accounts/{id:\d+}/followers")
async def followers(request: web.Request) -> web.Response:
    return await _follow_list(request, followers=True)


@_routes.get(r"/api/v1/accounts/{id:\d+}/following")
async def following(request: web.Request) -> web.Response:
    return await _follow_list(request, followers=False)


async def _follow_list(request: web.Request, *, followers: bool) -> web.Response:
    viewer = await optional_user(request, "read:accounts")
    target = await account_from_path(request)
    page = read_page(await Params.read(request), default=40, maximum=80)
    store = request.app[store_key]
    viewer_account = _account_of(viewer)
    if viewer_account is not None and await store.blocks.is_blocked(target.id, viewer_account.id):
        return paged_response(request, [], [])
    list_of = store.follows.followers_window if followers else store.follows.following_window
    return await accounts_response(request, viewer_account, await list_of(target.id, page.window()))


def _account_of(user: LocalUser | None) -> AccountRow | None:
    return user.account if user else None


routes: list[web.AbstractRouteDef] = [*_routes, *relationships.routes]
