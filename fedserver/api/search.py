"""The client API: search (https://docs.joinmastodon.org/methods/search/).

Local search works without a token; `resolve=true` (WebFinger for `user@host`, a fetch
for a URL) and `offset` need a user's token, as on Mastodon. Remote lookups go through
the guarded client, signed by the instance actor, and the remote's answer is trusted only
as its origin serves it: an actor through `RemoteActors.get` of its own id, a post through
the inbox's `fetch_status` of its own id. Statuses are found by URL only: Mastodon without
its search engine does the same, and there is no full-text index here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from actors.parse import ACTOR_TYPES
from fedserver.api.auth import optional_user
from fedserver.api.entities import hashtag_entity
from fedserver.api.params import Params
from fedserver.api.present import presenter_for
from fedserver.api.routing import ApiRoutes
from fedserver.api.visibility import can_see
from fedserver.appkeys import (
    clock_key,
    config_key,
    domain_policy_key,
    http_client_key,
    ids_key,
    instance_actor_key,
    local_keys_key,
    remote_actors_key,
    store_key,
)
from fedserver.db import AccountRow, LocalUser, StatusRow
from fedserver.errors import FedError, Unauthorized
from fedserver.http import ACTIVITY_ACCEPT, ACTIVITY_CONTENT_TYPES
from fedserver.responses import json_response
from fedserver.signing import make_signer
from fedserver.urls import LocalUrls
from inbox.context import FetchBudget, InboxContext
from inbox.objects import NOTE_TYPES
from inbox.statuses import fetch_status, same_origin

routes = ApiRoutes()


@routes.get("/api/v2/search")
async def search(request: web.Request) -> web.Response:
    viewer = await optional_user(request, "read:search")
    params = await Params.read(request)
    query = (params.string("q", "", max_length=2_000) or "").strip()
    kind = params.string("type") or None
    resolve = bool(params.boolean("resolve", False))
    limit = max(1, min(params.integer("limit", 20) or 20, 40))
    offset = max(0, params.integer("offset", 0) or 0)
    # Mastodon.py sends exclude_unreviewed=1 (trending-review state): nothing to exclude.
    if viewer is None and resolve:
        raise Unauthorized(
            "Search queries that resolve remote resources are not supported without authentication"
        )
    if viewer is None and offset:
        raise Unauthorized("Search queries with offset are not supported without authentication")
    presenter = presenter_for(request, viewer.account if viewer else None)
    accounts: list[AccountRow] = []
    statuses: list[StatusRow] = []
    hashtags: list[dict[str, Any]] = []
    if query and _is_url(query):
        account, status = await resolve_url(request, query, viewer, resolve=resolve)
        if account is not None and kind in (None, "accounts") and not offset:
            accounts.append(account)
        if status is not None and kind in (None, "statuses") and not offset:
            statuses.append(status)
    elif query:
        if kind in (None, "accounts"):
            accounts = await find_accounts(
                request, viewer, query, resolve=resolve, limit=limit, offset=offset
            )
        if kind in (None, "hashtags"):
            hashtags = await _hashtags(request, query, limit, offset, signed_in=bool(viewer))
    return json_response(
        {
            "accounts": await presenter.accounts(accounts),
            "statuses": await presenter.statuses(statuses),
            "hashtags": hashtags,
        }
    )


async def find_accounts(
    request: web.Request,
    viewer: LocalUser | None,
    query: str,
    *,
    resolve: bool,
    limit: int,
    offset: int = 0,
    following: bool = False,
) -> list[AccountRow]:
    """Accounts for a query: `name` (a username or display-name prefix), `name@host` or
    `@name@host`; with `resolve`, an unknown `name@host` is looked up by WebFinger."""
    app = request.app
    config = app[config_key]
    text = query.strip().removeprefix("acct:").lstrip("@")
    username, at, host = text.partition("@")
    host = host.lower()
    ours = bool(at) and host in (config.domain.lower(), config.instance.host.lower())
    remote_host = host if at and host and not ours else None
    found: list[AccountRow] = []
    if remote_host and resolve and not offset and username:
        try:
            resolved = await app[remote_actors_key].resolve_acct(f"{username}@{remote_host}")
        except FedError:
            resolved = None  # unknown, unreachable or blocked: the local results stand
        if resolved is not None and not resolved.is_deleted:
            found.append(resolved)
    if username:
        found += await app[store_key].accounts.search(
            username,
            domain=remote_host,
            local_only=ours,
            limit=limit,
            offset=offset,
            viewer_id=viewer.account.id if viewer else None,
            following_only=following and viewer is not None,
        )
    unique: dict[int, AccountRow] = {}
    for account in found:
        unique.setdefault(account.id, account)
    return list(unique.values())[:limit]


async def _hashtags(
    request: web.Request, query: str, limit: int, offset: int, *, signed_in: bool
) -> list[dict[str, Any]]:
    name = query.removeprefix("#").lower()
    if not name or not all(c.isalnum() or c == "_" for c in name):
        return []
    base_url = request.app[config_key].base_url
    tags = await request.app[store_key].statuses.search_tags(name, limit=limit, offset=offset)
    # Followed hashtags are not implemented: nobody follows any (false for a user).
    following = False if signed_in else None
    return [hashtag_entity(tag_id, tag, base_url, following=following) for tag_id, tag in tags]


def _is_url(query: str) -> bool:
    parts = urlsplit(query)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in query


async def resolve_url(
    request: web.Request, url: str, viewer: LocalUser | None, *, resolve: bool
) -> tuple[AccountRow | None, StatusRow | None]:
    """The account or status a URL names (its id or its page), if the viewer may see it:
    local, known, or (with `resolve`) fetched from its origin."""
    base_url = request.app[config_key].base_url
    if url.startswith(base_url + "/"):
        account, status = await _local(request, urlsplit(url).path)
    else:
        account, status = await _known(request, url)
        if account is None and status is None and resolve:
            account, status = await _fetch(request, url)
    if account is not None and account.is_deleted:
        account = None
    store = request.app[store_key]
    if status is not None and not await can_see(store, viewer.account if viewer else None, status):
        status = None
    return account, status


async def _known(request: web.Request, url: str) -> tuple[AccountRow | None, StatusRow | None]:
    store = request.app[store_key]
    account = await store.remote_accounts.by_uri(url) or await store.remote_accounts.by_url(url)
    status = await store.statuses.by_uri(url) or await store.statuses.by_url(url)
    return account, status


async def _local(request: web.Request, path: str) -> tuple[AccountRow | None, StatusRow | None]:
    """`/users/NAME`, `/@NAME`, `/users/NAME/statuses/ID` and `/@NAME/ID`."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "users":
        name, rest = parts[1], parts[2:]
        if rest and (len(rest) != 2 or rest[0] != "statuses"):
            return None, None
        status_id = rest[1] if rest else None
    elif parts and parts[0].startswith("@") and len(parts) <= 2:
        name, status_id = parts[0][1:], (parts[1] if len(parts) == 2 else None)
    else:
        return None, None
    store = request.app[store_key]
    user = await store.accounts.local_user(name)
    if user is None:
        return None, None
    if status_id is None:
        return user.account, None
    is_id = status_id.isdigit() and len(status_id) <= 19
    status = await store.statuses.by_id(int(status_id)) if is_id else None
    if status is None or status.account_id != user.account.id or status.deleted_at:
        return None, None
    return None, status


async def _fetch(request: web.Request, url: str) -> tuple[AccountRow | None, StatusRow | None]:
    """Read what the URL serves to learn its type and id, then take the object from its
    own id on the same host (an actor or a post is never trusted as a page serves it)."""
    app = request.app
    if app[domain_policy_key].is_url_blocked(url):
        return None, None
    actor = app[instance_actor_key]
    signer = make_signer(actor.key_id, actor.keys.rsa, app[clock_key])
    try:
        document = await app[http_client_key].fetch_json(
            url, accept=ACTIVITY_ACCEPT, content_types=ACTIVITY_CONTENT_TYPES, signer=signer
        )
    except FedError:
        return None, None
    object_id = document.get("id")
    raw_types = document.get("type")
    types = set(raw_types) if isinstance(raw_types, list) else {raw_types}
    if not isinstance(object_id, str) or not same_origin(object_id, url):
        return None, None
    try:
        if types & ACTOR_TYPES:
            return await app[remote_actors_key].get(object_id), None
        if types & NOTE_TYPES:
            config = app[config_key]
            context = InboxContext(
                store=app[store_key],
                actors=app[remote_actors_key],
                client=app[http_client_key],
                instance_signer=signer,
                local_keys=app[local_keys_key],
                urls=LocalUrls(config.base_url),
                config=config,
                now=app[clock_key](),
                new_id=app[ids_key],
                budget=FetchBudget(),
            )
            return None, await fetch_status(context, object_id)
    except FedError:
        pass
    return None, None
