"""Serving our statuses: the Note (or its Create/Announce) to peers, a page to browsers.

Public and unlisted statuses are readable by anyone (with authorized fetch, by any
signed peer). Followers-only statuses only by a signed request from an accepted follower,
direct ones only by a mentioned actor; everyone else gets 404, which does not reveal that
the status exists. Deleted statuses answer 410 with a Tombstone.
"""

from __future__ import annotations

from aiohttp import web

from actors.documents import tombstone_document
from fedserver.activitystreams import AS_CONTEXT, wants_activity_json
from fedserver.appkeys import config_key, outbox_key, remote_actors_key, store_key
from fedserver.authentication import require_signed_fetch, signer_if_signed
from fedserver.db import LocalUser, StatusRow
from fedserver.errors import FedError, NotFound
from fedserver.pages import render_page
from fedserver.responses import activity_response
from fedserver.urls import LocalUrls

routes = web.RouteTableDef()


async def _find(request: web.Request) -> tuple[LocalUser, StatusRow]:
    store = request.app[store_key]
    user = await store.accounts.local_user(request.match_info["username"])
    raw_id = request.match_info["status_id"]
    status = (
        await store.statuses.by_id(int(raw_id)) if raw_id.isdigit() and len(raw_id) < 20 else None
    )
    if (
        user is None
        or status is None
        or status.account_id != user.account.id
        or not status.is_local
    ):
        raise NotFound("no such status")
    return user, status


async def _may_see(request: web.Request, status: StatusRow) -> bool:
    if status.visibility in ("public", "unlisted"):
        return True
    signer = await signer_if_signed(request)
    if signer is None:
        return False
    store = request.app[store_key]
    try:
        viewer = await request.app[remote_actors_key].get(signer.actor_uri)
    except FedError:
        return False
    if viewer.id in await store.statuses.mentioned_account_ids(status.id):
        return True
    if status.visibility == "private":
        follow = await store.follows.get(viewer.id, status.account_id)
        return follow is not None and follow.state == "accepted"
    return False


@routes.get("/users/{username}/statuses/{status_id}", name="status")
async def status_object(request: web.Request) -> web.Response:
    if not wants_activity_json(request.headers.get("Accept")):
        return await _page(request)
    await require_signed_fetch(request)
    user, status = await _find(request)
    urls = LocalUrls(request.app[config_key].base_url)
    uri = urls.status(user.username, status.id)
    if status.deleted_at is not None:
        return activity_response(tombstone_document(uri, status.deleted_at), status=410)
    if status.reblog_of_id is not None or not await _may_see(request, status):
        raise NotFound("no such status")
    note = await request.app[outbox_key].note_for(status, user.account)
    return activity_response({"@context": [AS_CONTEXT, {"sensitive": "as:sensitive"}], **note})


@routes.get("/users/{username}/statuses/{status_id}/activity", name="status_activity")
async def status_activity(request: web.Request) -> web.Response:
    await require_signed_fetch(request)
    user, status = await _find(request)
    urls = LocalUrls(request.app[config_key].base_url)
    if status.deleted_at is not None:
        uri = urls.status_activity(user.username, status.id)
        return activity_response(tombstone_document(uri, status.deleted_at), status=410)
    if not await _may_see(request, status):
        raise NotFound("no such status")
    document = await request.app[outbox_key].activity_for(status, user.account)
    return activity_response(document)


@routes.get("/@{username}/{status_id}", name="status_page")
async def status_page(request: web.Request) -> web.Response:
    if wants_activity_json(request.headers.get("Accept")):
        user, status = await _find(request)
        raise web.HTTPFound(
            LocalUrls(request.app[config_key].base_url).status(user.username, status.id)
        )
    return await _page(request)


async def _page(request: web.Request) -> web.Response:
    user, status = await _find(request)
    if status.deleted_at is not None:
        return render_page(request, "gone.html", {"username": user.username}, status=410)
    # Pages are for the public: signing in on the web is not built, so non-public
    # statuses have no page.
    if status.visibility not in ("public", "unlisted") or status.reblog_of_id is not None:
        raise NotFound("no such status")
    return render_page(request, "status.html", {"account": user.account, "status": status})
