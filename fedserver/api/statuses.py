"""The client API: statuses (https://docs.joinmastodon.org/methods/statuses/).

Every action goes through `Outbox`, so what a person does in an app federates: posting
sends Create, favouriting Like, boosting Announce, deleting Delete, editing Update.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from fedserver.api.auth import optional_user, require_user
from fedserver.api.entities import api_time
from fedserver.api.paging import paged_response, read_page
from fedserver.api.params import Params
from fedserver.api.present import Presenter
from fedserver.api.routing import ApiRoutes
from fedserver.api.visibility import can_see, visible, visible_status
from fedserver.appkeys import (
    clock_key,
    config_key,
    ids_key,
    outbox_key,
    remote_actors_key,
    store_key,
)
from fedserver.db import AccountRow, LocalUser, StatusRow, Window
from fedserver.errors import FedError, Forbidden, UnprocessableEntity
from fedserver.responses import json_response
from fedserver.urls import LocalUrls
from outbox.service import VISIBILITIES
from outbox.text import extract_mentions

routes = ApiRoutes()

#: Mentions resolved per post; more stay plain text (each may need a WebFinger lookup).
MAX_RESOLVED_MENTIONS = 20
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def presenter(request: web.Request, viewer: AccountRow | None) -> Presenter:
    config = request.app[config_key]
    return Presenter(
        request.app[store_key],
        LocalUrls(config.base_url),
        config.domain,
        viewer,
        request.app[clock_key](),
    )


async def _viewer(request: web.Request) -> AccountRow | None:
    user = await optional_user(request, "read:statuses")
    return user.account if user else None


@routes.post("/api/v1/statuses")
async def create_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    params = await Params.read(request)
    store = request.app[store_key]
    now = request.app[clock_key]()
    key = request.headers.get("Idempotency-Key", "")[:255]
    if key:
        earlier = await store.idempotency.status_for(user.user.id, key, now - IDEMPOTENCY_WINDOW)
        status = await store.statuses.by_id(earlier) if earlier else None
        if status is not None and status.deleted_at is None:
            return json_response(await presenter(request, user.account).status(status))
    for unsupported, what in (
        ("media_ids", "media attachments"),
        ("poll", "polls"),
        ("scheduled_at", "scheduled statuses"),
    ):
        if params.strings(unsupported) or params.mapping(unsupported):
            raise UnprocessableEntity(f"{what} are not supported by this server yet")
    text = params.string("status", "") or ""
    visibility = params.string("visibility") or user.user.default_visibility
    if visibility not in VISIBILITIES:
        raise UnprocessableEntity(f"visibility must be one of {', '.join(VISIBILITIES)}")
    reply_to = None
    reply_id = params.string("in_reply_to_id")
    if reply_id:
        reply_to = await visible_status(store, user.account, reply_id)
    status = await request.app[outbox_key].post(
        user.account,
        text,
        visibility=visibility,
        spoiler_text=params.string("spoiler_text", "", max_length=1000) or "",
        sensitive=bool(params.boolean("sensitive", user.user.default_sensitive)),
        language=params.string("language", max_length=16) or user.user.default_language,
        in_reply_to=reply_to,
        mentions=await _resolve_mentions(request, text),
    )
    if key:
        await store.idempotency.remember(user.user.id, key, status.id, now)
    return json_response(await presenter(request, user.account).status(status))


async def _resolve_mentions(request: web.Request, text: str) -> list[AccountRow]:
    """The accounts @names in a post refer to; unknown names stay text, as on Mastodon."""
    domain = request.app[config_key].domain
    found = []
    for acct in extract_mentions(text, domain)[:MAX_RESOLVED_MENTIONS]:
        try:
            found.append(await request.app[remote_actors_key].resolve_acct(acct))
        except FedError:
            continue
    return found


@routes.get("/api/v1/statuses/{id}")
async def get_status(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    status = await visible_status(request.app[store_key], viewer, request.match_info["id"])
    return json_response(await presenter(request, viewer).status(status))


@routes.delete("/api/v1/statuses/{id}")
async def delete_status(request: web.Request) -> web.Response:
    user, status = await _own_status(request)
    entity = await presenter(request, user.account).status(status)
    entity["text"] = status.source_text or ""  # Mastodon returns the source for redrafting
    await request.app[outbox_key].delete(user.account, status)
    return json_response(entity)


@routes.put("/api/v1/statuses/{id}")
async def edit_status(request: web.Request) -> web.Response:
    user, status = await _own_status(request)
    params = await Params.read(request)
    if params.strings("media_ids") or params.mapping("poll"):
        raise UnprocessableEntity(
            "media attachments and polls are not supported by this server yet"
        )
    edited = await request.app[outbox_key].edit(
        user.account,
        status,
        params.string("status", "") or "",
        spoiler_text=params.string("spoiler_text", "", max_length=1000) or "",
        sensitive=bool(params.boolean("sensitive", status.sensitive)),
    )
    return json_response(await presenter(request, user.account).status(edited))


async def _own_status(request: web.Request) -> tuple[LocalUser, StatusRow]:
    user = await require_user(request, "write:statuses")
    status = await visible_status(request.app[store_key], user.account, request.match_info["id"])
    if status.account_id != user.account.id or status.reblog_of_id is not None:
        raise Forbidden("This action is not allowed")
    return user, status


@routes.get("/api/v1/statuses/{id}/source")
async def status_source(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    status = await visible_status(request.app[store_key], user.account, request.match_info["id"])
    if status.account_id != user.account.id:
        raise Forbidden("This action is not allowed")
    return json_response(
        {
            "id": str(status.id),
            "text": status.source_text or "",
            "spoiler_text": status.spoiler_text,
        }
    )


@routes.get("/api/v1/statuses/{id}/history")
async def status_history(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    store = request.app[store_key]
    status = await visible_status(store, viewer, request.match_info["id"])
    rendered = await presenter(request, viewer).status(status)
    versions: list[dict[str, Any]] = []
    for content, spoiler, sensitive, created_at in await store.statuses.edits(status.id):
        versions.append(_version(rendered, content, spoiler, sensitive, api_time(created_at)))
    versions.append(
        _version(
            rendered,
            status.content,
            status.spoiler_text,
            status.sensitive,
            rendered["edited_at"] or rendered["created_at"],
        )
    )
    return json_response(versions)


def _version(
    rendered: dict[str, Any], content: str, spoiler: str, sensitive: bool, at: str
) -> dict[str, Any]:
    return {
        "content": content,
        "spoiler_text": spoiler,
        "sensitive": sensitive,
        "created_at": at,
        "account": rendered["account"],
        "poll": None,
        "media_attachments": [],
        "emojis": rendered["emojis"],
    }


@routes.get("/api/v1/statuses/{id}/context")
async def status_context(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    store = request.app[store_key]
    status = await visible_status(store, viewer, request.match_info["id"])
    present = presenter(request, viewer)
    ancestors: list[StatusRow] = []
    parent_id = status.in_reply_to_id
    while parent_id is not None and len(ancestors) < 40:
        parent = await store.statuses.by_id(parent_id)
        if parent is None or not await can_see(store, viewer, parent):
            break
        ancestors.append(parent)
        parent_id = parent.in_reply_to_id
    descendants: list[StatusRow] = []
    queue = [status.id]
    while queue and len(descendants) < 200:
        for reply in await visible(store, viewer, await store.timelines.replies(queue.pop(0))):
            descendants.append(reply)
            queue.append(reply.id)
    return json_response(
        {
            "ancestors": await present.statuses(ancestors[::-1]),
            "descendants": await present.statuses(descendants),
        }
    )


async def _act(request: web.Request, scope: str) -> tuple[LocalUser, StatusRow]:
    user = await require_user(request, scope)
    status = await visible_status(request.app[store_key], user.account, request.match_info["id"])
    if status.reblog_of_id is not None:
        original = await request.app[store_key].statuses.by_id(status.reblog_of_id)
        if original is not None:
            status = original
    return user, status


async def _answer(request: web.Request, user: LocalUser, status_id: int) -> web.Response:
    status = await request.app[store_key].statuses.by_id(status_id)
    assert status is not None
    return json_response(await presenter(request, user.account).status(status))


@routes.post("/api/v1/statuses/{id}/favourite")
async def favourite(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:favourites")
    await request.app[outbox_key].favourite(user.account, status)
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/unfavourite")
async def unfavourite(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:favourites")
    await request.app[outbox_key].unfavourite(user.account, status)
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/reblog")
async def reblog(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:statuses")
    wrapper = await request.app[outbox_key].reblog(user.account, status)
    # CLIENTS.md: the answer is the new wrapper status, with `reblog` set.
    return json_response(await presenter(request, user.account).status(wrapper))


@routes.post("/api/v1/statuses/{id}/unreblog")
async def unreblog(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:statuses")
    await request.app[outbox_key].unreblog(user.account, status)
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/bookmark")
async def bookmark(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:bookmarks")
    app = request.app
    await app[store_key].bookmarks.add(app[ids_key](), user.account.id, status.id, app[clock_key]())
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/unbookmark")
async def unbookmark(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:bookmarks")
    await request.app[store_key].bookmarks.remove(user.account.id, status.id)
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/pin")
async def pin(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:accounts")
    await request.app[outbox_key].pin(user.account, status, pinned=True)
    return await _answer(request, user, status.id)


@routes.post("/api/v1/statuses/{id}/unpin")
async def unpin(request: web.Request) -> web.Response:
    user, status = await _act(request, "write:accounts")
    await request.app[outbox_key].pin(user.account, status, pinned=False)
    return await _answer(request, user, status.id)


@routes.get("/api/v1/statuses/{id}/favourited_by")
async def favourited_by(request: web.Request) -> web.Response:
    return await _reacting(request, reblogs=False)


@routes.get("/api/v1/statuses/{id}/reblogged_by")
async def reblogged_by(request: web.Request) -> web.Response:
    return await _reacting(request, reblogs=True)


async def _reacting(request: web.Request, *, reblogs: bool) -> web.Response:
    viewer = await _viewer(request)
    store = request.app[store_key]
    status = await visible_status(store, viewer, request.match_info["id"])
    page = read_page(await Params.read(request), default=40, maximum=80)
    edges = await store.timelines.reacting_accounts(
        status.id,
        reblogs=reblogs,
        window=Window(page.max_id, page.since_id, page.min_id, page.limit),
    )
    present = presenter(request, viewer)
    accounts = await present.accounts_by_ids([account_id for _, account_id in edges])
    return paged_response(request, accounts, [edge_id for edge_id, _ in edges])
