"""The client API: relationships between the user and other accounts
(https://docs.joinmastodon.org/methods/accounts/#follow and following sections,
/methods/follow_requests/, /methods/blocks/, /methods/mutes/).

Follows, follow-request answers and blocks go through the outbox, which changes our state
and queues the activity for the other server in one transaction: a remote follow stays
`requested` until that server's own Accept arrives. Mutes are private and never federate.
Every action answers the Relationship as it now stands. `accounts.py` serves these routes
together with its own; the helpers at the top are shared with it.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from fedserver.api.auth import require_user
from fedserver.api.entities import api_time
from fedserver.api.paging import paged_response, read_page
from fedserver.api.params import Params
from fedserver.api.present import presenter_for
from fedserver.api.routing import ApiRoutes
from fedserver.appkeys import clock_key, ids_key, outbox_key, store_key
from fedserver.db import AccountRow, LocalUser
from fedserver.errors import NotFound, UnprocessableEntity
from fedserver.responses import json_response

routes = ApiRoutes()

# -- shared with accounts.py -----------------------------------------------------------


async def account_from_path(request: web.Request, name: str = "id") -> AccountRow:
    """The account whose id is in the path; 404 `Record not found` as on Mastodon."""
    raw = request.match_info[name]
    store = request.app[store_key]
    account = await store.accounts.by_id(int(raw)) if raw.isdigit() and len(raw) <= 19 else None
    if account is None:
        raise NotFound("Record not found")
    return account


async def accounts_response(
    request: web.Request, viewer: AccountRow | None, rows: list[tuple[int, AccountRow]]
) -> web.Response:
    """A page of accounts; its Link header carries the rows' cursors (edge ids)."""
    items = await presenter_for(request, viewer).accounts([account for _, account in rows])
    return paged_response(request, list(items), [cursor for cursor, _ in rows])


async def _relationship(request: web.Request, user: LocalUser, target: AccountRow) -> web.Response:
    return json_response(await presenter_for(request, user.account).relationship(target))


async def _other(request: web.Request, user: LocalUser) -> AccountRow:
    """The account in the path, which must not be the user's own."""
    target = await account_from_path(request)
    if target.id == user.account.id:
        raise UnprocessableEntity("This action is not allowed on your own account")
    return target


# -- follows ---------------------------------------------------------------------------


@routes.post(r"/api/v1/accounts/{id:\d+}/follow")
async def follow(request: web.Request) -> web.Response:
    """Follow (or change `reblogs` / `notify` of an existing follow or request)."""
    user = await require_user(request, "write:follows")
    target = await _other(request, user)
    params = await Params.read(request)
    reblogs = params.boolean("reblogs")
    notify = params.boolean("notify")
    store = request.app[store_key]
    existing = await store.follows.get(user.account.id, target.id)
    if existing is None:
        if target.is_deleted:
            raise NotFound("Record not found")
        await request.app[outbox_key].follow(user.account, target)
        existing = await store.follows.get(user.account.id, target.id)
    if existing is not None and (reblogs is not None or notify is not None):
        await store.follows.set_options(
            user.account.id,
            target.id,
            show_reblogs=existing.show_reblogs if reblogs is None else reblogs,
            notify=existing.notify if notify is None else notify,
        )
    return await _relationship(request, user, target)


@routes.post(r"/api/v1/accounts/{id:\d+}/unfollow")
async def unfollow(request: web.Request) -> web.Response:
    """Unfollow, or withdraw a pending request."""
    user = await require_user(request, "write:follows")
    target = await account_from_path(request)
    if await request.app[store_key].follows.get(user.account.id, target.id) is not None:
        await request.app[outbox_key].unfollow(user.account, target)
    return await _relationship(request, user, target)


@routes.post(r"/api/v1/accounts/{id:\d+}/remove_from_followers")
async def remove_from_followers(request: web.Request) -> web.Response:
    """Make an account stop following the user (a remote one is sent Reject(Follow))."""
    user = await require_user(request, "write:follows")
    target = await account_from_path(request)
    if await request.app[store_key].follows.get(target.id, user.account.id) is not None:
        await request.app[outbox_key].answer_follow_request(user.account, target, accept=False)
    return await _relationship(request, user, target)


@routes.get("/api/v1/accounts/relationships")
async def relationships(request: web.Request) -> web.Response:
    """`id[]=1&id[]=2` or `id=1`; unknown ids are left out, as on Mastodon."""
    user = await require_user(request, "read:follows")
    params = await Params.read(request)
    store = request.app[store_key]
    presenter = presenter_for(request, user.account)
    found = []
    for raw in params.strings("id", max_items=100):
        account = await store.accounts.by_id(int(raw)) if raw.isdigit() and len(raw) <= 19 else None
        if account is not None:
            found.append(await presenter.relationship(account))
    return json_response(found)


@routes.get("/api/v1/follow_requests")
async def follow_requests(request: web.Request) -> web.Response:
    user = await require_user(request, "read:follows")
    page = read_page(await Params.read(request), default=40, maximum=80)
    rows = await request.app[store_key].follows.requests_window(user.account.id, page.window())
    return await accounts_response(request, user.account, rows)


@routes.post(r"/api/v1/follow_requests/{id:\d+}/authorize")
async def authorize_follow_request(request: web.Request) -> web.Response:
    return await _answer(request, accept=True)


@routes.post(r"/api/v1/follow_requests/{id:\d+}/reject")
async def reject_follow_request(request: web.Request) -> web.Response:
    return await _answer(request, accept=False)


async def _answer(request: web.Request, *, accept: bool) -> web.Response:
    user = await require_user(request, "write:follows")
    requester = await account_from_path(request)
    pending = await request.app[store_key].follows.get(requester.id, user.account.id)
    if pending is None or pending.state != "pending":
        raise NotFound("Record not found")
    await request.app[outbox_key].answer_follow_request(user.account, requester, accept=accept)
    return await _relationship(request, user, requester)


# -- blocks and mutes ------------------------------------------------------------------


@routes.post(r"/api/v1/accounts/{id:\d+}/block")
async def block(request: web.Request) -> web.Response:
    """Block: follows both ways end, and a remote account's server is sent the Block."""
    user = await require_user(request, "write:blocks")
    target = await _other(request, user)
    if not await request.app[store_key].blocks.is_blocked(user.account.id, target.id):
        await request.app[outbox_key].block(user.account, target)
    return await _relationship(request, user, target)


@routes.post(r"/api/v1/accounts/{id:\d+}/unblock")
async def unblock(request: web.Request) -> web.Response:
    user = await require_user(request, "write:blocks")
    target = await account_from_path(request)
    if await request.app[store_key].blocks.is_blocked(user.account.id, target.id):
        await request.app[outbox_key].unblock(user.account, target)
    return await _relationship(request, user, target)


@routes.post(r"/api/v1/accounts/{id:\d+}/mute")
async def mute(request: web.Request) -> web.Response:
    """`notifications` (default true) also mutes their notifications; `duration` in
    seconds ends the mute (0: never)."""
    user = await require_user(request, "write:mutes")
    target = await _other(request, user)
    params = await Params.read(request)
    duration = params.integer("duration", 0) or 0
    if duration < 0:
        raise UnprocessableEntity("duration must be a number of seconds, or 0 for no end")
    now = request.app[clock_key]()
    await request.app[store_key].mutes.add(
        request.app[ids_key](),
        user.account.id,
        target.id,
        notifications=bool(params.boolean("notifications", True)),
        expires_at=now + timedelta(seconds=duration) if duration else None,
        now=now,
    )
    return await _relationship(request, user, target)


@routes.post(r"/api/v1/accounts/{id:\d+}/unmute")
async def unmute(request: web.Request) -> web.Response:
    user = await require_user(request, "write:mutes")
    target = await account_from_path(request)
    await request.app[store_key].mutes.remove(user.account.id, target.id)
    return await _relationship(request, user, target)


@routes.get("/api/v1/blocks")
async def blocks(request: web.Request) -> web.Response:
    user = await require_user(request, "read:blocks")
    page = read_page(await Params.read(request), default=40, maximum=80)
    rows = await request.app[store_key].blocks.window(user.account.id, page.window())
    return await accounts_response(request, user.account, rows)


@routes.get("/api/v1/mutes")
async def mutes(request: web.Request) -> web.Response:
    """Muted accounts, each with `mute_expires_at` (Mastodon's MutedAccount)."""
    user = await require_user(request, "read:mutes")
    page = read_page(await Params.read(request), default=40, maximum=80)
    rows = await request.app[store_key].mutes.window(
        user.account.id, page.window(), request.app[clock_key]()
    )
    presenter = presenter_for(request, user.account)
    items = []
    for _, account, expires_at in rows:
        entity = dict(await presenter.account(account))
        entity["mute_expires_at"] = api_time(expires_at) if expires_at else None
        items.append(entity)
    return paged_response(request, items, [cursor for cursor, _, _ in rows])
