"""HTML pages: the renderer every page goes through, and the instance's own pages (home,
robots.txt).

Templates come from fedserver/templates.py (autoescape on; remote or user HTML is shown
only through the `sanitize` filter, which runs the allow-list sanitiser again at render
time, SECURITY.md R10). Every page carries a strict CSP with no inline script or style.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from fedserver.appkeys import config_key, templates_key
from fedserver.templates import Templates

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_DIR = Path(__file__).parent / "static"

routes = web.RouteTableDef()


def create_templates() -> Templates:
    return Templates()


def render_page(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    config = request.app[config_key]
    html = (
        request.app[templates_key]
        .get_template(template)
        .render(instance=config.instance, **context)
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # The same URL serves JSON to peers: caches must key on Accept.
    response.headers["Vary"] = "Accept"
    return response


@routes.get("/", name="home")
async def home(request: web.Request) -> web.Response:
    return render_page(request, "home.html", {})


@routes.get("/robots.txt")
async def robots(request: web.Request) -> web.Response:
    # Pages of people are for people; API and OAuth endpoints are not for crawlers.
    text = "User-agent: *\nDisallow: /api/\nDisallow: /oauth/\nDisallow: /inbox\n"
    return web.Response(text=text, content_type="text/plain")
