"""The outbox collection: a user's public and unlisted posts as Create activities, paged."""

from __future__ import annotations

from aiohttp import web

from actors.documents import (
    ordered_collection,
    ordered_collection_page,
    page_url,
    tombstone_document,
)
from fedserver.appkeys import config_key, outbox_key, store_key
from fedserver.authentication import require_signed_fetch
from fedserver.errors import NotFound
from fedserver.responses import activity_response, query_cursor
from fedserver.urls import LocalUrls

routes = web.RouteTableDef()


@routes.get("/users/{username}/outbox", name="outbox")
async def outbox(request: web.Request) -> web.Response:
    await require_signed_fetch(request)
    store = request.app[store_key]
    urls = LocalUrls(request.app[config_key].base_url)
    username = request.match_info["username"]
    user = await store.accounts.local_user(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    collection_id = urls.outbox(user.username)
    if user.account.is_deleted:
        return activity_response(tombstone_document(collection_id, None), status=410)
    total = await store.statuses.count_by_account(user.account.id)
    if "page" not in request.query:
        return activity_response(
            ordered_collection(collection_id, total, first=page_url(collection_id, None))
        )
    before = query_cursor(request)
    limit = request.app[config_key].limits.collection_page_size
    statuses = await store.statuses.public_by_account(user.account.id, before=before, limit=limit)
    outbox = request.app[outbox_key]
    activities = []
    for status in statuses:
        try:
            activities.append(await outbox.activity_for(status, user.account))
        except NotFound:
            continue  # a boost of a status that is gone

    next_page = page_url(collection_id, statuses[-1].id) if len(statuses) == limit else None
    return activity_response(
        ordered_collection_page(
            page_url(collection_id, before),
            collection_id,
            activities,
            total=total,
            next_page=next_page,
        )
    )
