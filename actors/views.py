"""Actor documents, the HTML profile page, and the followers/following/featured collections.

With authorized fetch on, collections need a signed GET; actor documents stay readable
unsigned, since peers must read our keys to verify our own signed requests.

`/users/NAME` answers peers (Accept: activity+json or ld+json) with the Person and browsers
with the profile page; `/@NAME` is the page's canonical address (the Person's `url`).
"""

from __future__ import annotations

from aiohttp import web

from actors.documents import (
    instance_actor_document,
    ordered_collection,
    ordered_collection_page,
    page_url,
    person_document,
    tombstone_document,
)
from fedserver.activitystreams import wants_activity_json
from fedserver.appkeys import (
    config_key,
    instance_actor_key,
    local_actors_key,
    outbox_key,
    store_key,
)
from fedserver.authentication import require_signed_fetch
from fedserver.db import LocalUser
from fedserver.errors import NotFound
from fedserver.localactors import CachedUser
from fedserver.pages import render_page
from fedserver.responses import (
    activity_body_response,
    activity_response,
    encode_activity,
    query_cursor,
)
from fedserver.urls import LocalUrls

routes = web.RouteTableDef()

#: Key of the encoded Person in `CachedUser.memo` (dropped with the cached row).
PERSON_MEMO = "actors.person"


async def find_local_user(request: web.Request) -> LocalUser:
    """The user named in the path, deleted ones included; 404 for unknown names."""
    return (await find_cached_user(request)).user


async def find_cached_user(request: web.Request) -> CachedUser:
    """`find_local_user` with what was rendered from the same row (read through the
    per-process cache: fedserver/localactors.py states how stale it may be)."""
    username = request.match_info["username"]
    cached = await request.app[local_actors_key].user(username)
    if cached is None:
        raise NotFound(f"no user named {username!r}")
    return cached


def urls_of(request: web.Request) -> LocalUrls:
    return LocalUrls(request.app[config_key].base_url)


@routes.get("/users/{username}", name="actor")
async def actor(request: web.Request) -> web.Response:
    if not wants_activity_json(request.headers.get("Accept")):
        return await _render_profile(request)
    cached = await find_cached_user(request)
    user = cached.user
    if user.account.is_deleted:
        document = tombstone_document(
            urls_of(request).actor(user.username), user.account.deleted_at
        )
        return activity_response(document, status=410)
    body: bytes | None = cached.memo.get(PERSON_MEMO)
    if body is None:
        keys = await request.app[local_actors_key].public_keys(user.account.id)
        body = encode_activity(person_document(user.account, keys, urls_of(request)))
        cached.memo[PERSON_MEMO] = body
    return activity_body_response(body)


@routes.get("/@{username}", name="profile_page")
async def profile_page(request: web.Request) -> web.Response:
    if wants_activity_json(request.headers.get("Accept")):
        raise web.HTTPFound(urls_of(request).actor(request.match_info["username"]))
    return await _render_profile(request)


async def _render_profile(request: web.Request) -> web.Response:
    user = await find_local_user(request)
    urls = urls_of(request)
    if user.account.is_deleted:
        return render_page(request, "gone.html", {"username": user.username}, status=410)
    store = request.app[store_key]
    account_id = user.account.id
    page_size = request.app[config_key].limits.collection_page_size
    statuses = await store.statuses.public_by_account(
        account_id, before=query_cursor(request), limit=page_size
    )
    next_page = None
    if len(statuses) == page_size:
        next_page = f"{urls.profile_page(user.username)}?max_id={statuses[-1].id}"
    return render_page(
        request,
        "profile.html",
        {
            "account": user.account,
            "actor_uri": urls.actor(user.username),
            "statuses": statuses,
            "statuses_count": await store.statuses.count_by_account(account_id),
            "followers_count": await store.follows.count_followers(account_id),
            "following_count": await store.follows.count_following(account_id),
            "next_page": next_page,
        },
    )


@routes.get("/users/{username}/followers", name="followers")
async def followers(request: web.Request) -> web.Response:
    return await _follow_collection(request, followers=True)


@routes.get("/users/{username}/following", name="following")
async def following(request: web.Request) -> web.Response:
    return await _follow_collection(request, followers=False)


async def _follow_collection(request: web.Request, *, followers: bool) -> web.Response:
    await require_signed_fetch(request)
    user = await find_local_user(request)
    urls = urls_of(request)
    name = user.username
    collection_id = urls.followers(name) if followers else urls.following(name)
    if user.account.is_deleted:
        return activity_response(tombstone_document(collection_id, None), status=410)
    follows = request.app[store_key].follows
    account_id = user.account.id
    if followers:
        total = await follows.count_followers(account_id)
    else:
        total = await follows.count_following(account_id)
    if "page" not in request.query:
        return activity_response(
            ordered_collection(collection_id, total, first=page_url(collection_id, None))
        )
    before = query_cursor(request)
    limit = request.app[config_key].limits.collection_page_size
    page_of = follows.followers_page if followers else follows.following_page
    items = await page_of(account_id, before=before, limit=limit)
    next_page = page_url(collection_id, items[-1].cursor) if len(items) == limit else None
    return activity_response(
        ordered_collection_page(
            page_url(collection_id, before),
            collection_id,
            [urls.account_uri(i.username, i.domain, i.uri) for i in items],
            total=total,
            next_page=next_page,
        )
    )


@routes.get("/users/{username}/collections/featured", name="featured")
async def featured(request: web.Request) -> web.Response:
    """Pinned posts, as Mastodon serves them: an OrderedCollection of the Notes."""
    await require_signed_fetch(request)
    user = await find_local_user(request)
    collection_id = urls_of(request).featured(user.username)
    if user.account.is_deleted:
        return activity_response(tombstone_document(collection_id, None), status=410)
    store = request.app[store_key]
    notes = []
    for status_id in await store.pins.status_ids(user.account.id):
        status = await store.statuses.by_id(status_id)
        if status is None or status.deleted_at is not None:
            continue
        if status.visibility in ("public", "unlisted"):
            notes.append(await request.app[outbox_key].note_for(status, user.account))
    document = ordered_collection(collection_id, len(notes), first=None)
    document["orderedItems"] = notes
    return activity_response(document)


@routes.get("/actor", name="instance_actor")
async def instance_actor(request: web.Request) -> web.Response:
    config = request.app[config_key]
    actor = request.app[instance_actor_key]
    document = instance_actor_document(
        urls_of(request), actor.username, actor.keys.public, config.instance.name
    )
    return activity_response(document)
