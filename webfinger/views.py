"""/.well-known: WebFinger, host-meta (XML and JSON) and NodeInfo."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from fedserver import jsoncodec
from fedserver.appkeys import (
    clock_key,
    config_key,
    instance_actor_key,
    local_actors_key,
    store_key,
    templates_key,
)
from fedserver.errors import Gone, NotFound
from fedserver.pages import render_page
from fedserver.responses import json_response
from fedserver.urls import LocalUrls
from webfinger.documents import (
    host_meta_json,
    instance_actor_jrd,
    lrdd_template,
    nodeinfo_document,
    nodeinfo_links,
    parse_resource,
    user_jrd,
)

routes = web.RouteTableDef()

JRD_JSON = "application/jrd+json"
# Discovery documents are public and read by browser-based clients (Elk, Phanpy).
CORS = {"Access-Control-Allow-Origin": "*"}
#: Key of the encoded JRD in `CachedUser.memo`.
JRD_MEMO = "webfinger.jrd"


@routes.get("/.well-known/webfinger", name="webfinger")
async def webfinger(request: web.Request) -> web.Response:
    config = request.app[config_key]
    urls = LocalUrls(config.base_url)
    instance_actor = request.app[instance_actor_key]
    query = parse_resource(
        request.query.get("resource"), urls, config.domain, instance_actor.username
    )
    if query.is_instance_actor:
        document = instance_actor_jrd(instance_actor.username, config.domain, urls)
        return json_response(document, content_type=JRD_JSON, headers=CORS)
    cached = await request.app[local_actors_key].user(query.username)
    if cached is None:
        raise NotFound(f"no user named {query.username!r}")
    user = cached.user
    if user.account.is_deleted:
        raise Gone(f"{user.username} was deleted")
    # Encoded once per cached row (fedserver/localactors.py): the JRD depends on the
    # stored name only. The same bytes json_response would send.
    body: bytes | None = cached.memo.get(JRD_MEMO)
    if body is None:
        body = jsoncodec.dumps_bytes(user_jrd(user.username, config.domain, urls))
        cached.memo[JRD_MEMO] = body
    return web.Response(body=body, content_type=JRD_JSON, charset="utf-8", headers=CORS)


@routes.get("/.well-known/host-meta")
async def host_meta(request: web.Request) -> web.Response:
    template = request.app[templates_key].get_template("host-meta.xml")
    xml = template.render(template_url=lrdd_template(request.app[config_key].base_url))
    return web.Response(text=xml, content_type="application/xrd+xml", headers=CORS)


@routes.get("/.well-known/host-meta.json")
async def host_meta_as_json(request: web.Request) -> web.Response:
    document = host_meta_json(request.app[config_key].base_url)
    return json_response(document, content_type=JRD_JSON, headers=CORS)


@routes.get("/.well-known/nodeinfo")
async def nodeinfo_index(request: web.Request) -> web.Response:
    return json_response(nodeinfo_links(request.app[config_key].base_url), headers=CORS)


@routes.get("/nodeinfo/{version}", name="nodeinfo")
async def nodeinfo(request: web.Request) -> web.Response:
    config = request.app[config_key]
    now = request.app[clock_key]()
    usage = await request.app[store_key].accounts.usage(
        month_ago=now - timedelta(days=30), halfyear_ago=now - timedelta(days=180)
    )
    version = request.match_info["version"]
    document = nodeinfo_document(
        version,
        usage,
        open_registrations=config.registrations.mode != "closed",
        node_name=config.instance.name,
        node_description=config.instance.description,
    )
    content_type = (
        f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
    )
    response = json_response(document, headers=CORS)
    response.headers["Content-Type"] = content_type
    return response


@routes.get("/authorize_interaction")
async def authorize_interaction(request: web.Request) -> web.Response:
    """The target of the `subscribe` template: remote follow from another server's page.

    Signing in on the web is not built yet, so the page tells people how to interact
    from their app instead of pretending to do it.
    """
    return render_page(request, "interact.html", {"uri": request.query.get("uri", "")})
