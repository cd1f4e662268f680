"""The client API: notifications (https://docs.joinmastodon.org/methods/notifications/)."""

from __future__ import annotations

from aiohttp import web

from fedserver.api.auth import require_user
from fedserver.api.paging import paged_response, read_page
from fedserver.api.params import Params
from fedserver.api.routing import ApiRoutes
from fedserver.api.statuses import presenter
from fedserver.appkeys import store_key
from fedserver.errors import NotFound
from fedserver.responses import json_response

routes = ApiRoutes()

TYPES = frozenset(
    {"mention", "status", "reblog", "follow", "follow_request", "favourite", "poll",
     "update", "move", "admin.sign_up", "admin.report"}
)  # fmt: skip


@routes.get("/api/v1/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    params = await Params.read(request)
    account_id = params.string("account_id")
    rows = await request.app[store_key].timelines.notifications(
        user.account.id,
        read_page(params, default=40, maximum=80).window(),
        types=[t for t in params.strings("types") if t in TYPES],
        exclude_types=[t for t in params.strings("exclude_types") if t in TYPES],
        from_account_id=int(account_id) if account_id and account_id.isdigit() else None,
    )
    # Those whose account is gone are left out.
    rendered = await presenter(request, user.account).notifications(rows)
    return paged_response(request, rendered, [row.id for row in rows])


@routes.get("/api/v1/notifications/{id}")
async def get_notification(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    raw = request.match_info["id"]
    row = (
        await request.app[store_key].timelines.notification(user.account.id, int(raw))
        if raw.isdigit() and len(raw) < 20
        else None
    )
    if row is None:
        raise NotFound("Record not found")
    return json_response(await presenter(request, user.account).notification(row))


@routes.post("/api/v1/notifications/clear")
async def clear(request: web.Request) -> web.Response:
    user = await require_user(request, "write:notifications")
    await request.app[store_key].timelines.clear_notifications(user.account.id)
    return json_response({})


@routes.post("/api/v1/notifications/{id}/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    user = await require_user(request, "write:notifications")
    raw = request.match_info["id"]
    if not (raw.isdigit() and len(raw) < 20) or not await request.app[
        store_key
    ].timelines.dismiss_notification(user.account.id, int(raw)):
        raise NotFound("Record not found")
    return json_response({})
