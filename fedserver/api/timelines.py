"""The client API: timelines, favourites and bookmarks
(https://docs.joinmastodon.org/methods/timelines/)."""

from __future__ import annotations

from aiohttp import web

from fedserver.api.auth import optional_user, require_user
from fedserver.api.paging import paged_response, read_page
from fedserver.api.params import Params
from fedserver.api.routing import ApiRoutes
from fedserver.api.statuses import presenter
from fedserver.api.visibility import visible
from fedserver.appkeys import store_key
from fedserver.db import StatusRow

routes = ApiRoutes()


@routes.get("/api/v1/timelines/home")
async def home(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    page = read_page(await Params.read(request))
    statuses = await request.app[store_key].timelines.home(user.account.id, page.window())
    return await _statuses_response(request, user.account.id, statuses)


@routes.get("/api/v1/timelines/public")
async def public(request: web.Request) -> web.Response:
    return await _public(request, tag=None)


@routes.get("/api/v1/timelines/tag/{hashtag}")
async def tag(request: web.Request) -> web.Response:
    return await _public(request, tag=request.match_info["hashtag"].lstrip("#")[:100])


async def _public(request: web.Request, *, tag: str | None) -> web.Response:
    user = await optional_user(request, "read:statuses")
    params = await Params.read(request)
    local = params.boolean("local", False)
    remote = params.boolean("remote", False)
    statuses = await request.app[store_key].timelines.public(
        read_page(params).window(),
        viewer_id=user.account.id if user else None,
        local=True if local else (False if remote else None),
        only_media=bool(params.boolean("only_media", False)),
        tag=tag,
    )
    return await _statuses_response(request, user.account.id if user else None, statuses)


async def _statuses_response(
    request: web.Request, viewer_id: int | None, statuses: list[StatusRow]
) -> web.Response:
    store = request.app[store_key]
    viewer = await store.accounts.by_id(viewer_id) if viewer_id is not None else None
    rendered = await presenter(request, viewer).statuses(await visible(store, viewer, statuses))
    return paged_response(request, rendered, [s.id for s in statuses])


@routes.get("/api/v1/favourites")
async def favourites(request: web.Request) -> web.Response:
    user = await require_user(request, "read:favourites")
    page = read_page(await Params.read(request))
    edges = await request.app[store_key].timelines.favourited(user.account.id, page.window())
    return await _edges_response(request, user.account.id, edges)


@routes.get("/api/v1/bookmarks")
async def bookmarks(request: web.Request) -> web.Response:
    user = await require_user(request, "read:bookmarks")
    page = read_page(await Params.read(request))
    edges = await request.app[store_key].timelines.bookmarked(user.account.id, page.window())
    return await _edges_response(request, user.account.id, edges)


async def _edges_response(
    request: web.Request, viewer_id: int, edges: list[tuple[int, StatusRow]]
) -> web.Response:
    store = request.app[store_key]
    viewer = await store.accounts.by_id(viewer_id)
    shown = await visible(store, viewer, [status for _, status in edges])
    rendered = await presenter(request, viewer).statuses(shown)
    # Paged by the favourite's (bookmark's) id, as Mastodon does.
    return paged_response(request, rendered, [edge_id for edge_id, _ in edges])
