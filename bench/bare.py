"""The bare baseline: the smallest aiohttp app that answers like our endpoints do.

    python -m bench.bare PORT

`GET /json` answers a small JSON document (what a read is compared with), `POST /inbox`
reads the body, parses it as JSON and answers 202 (what an inbox POST is compared with).
No middleware, no logging, default `web.run_app` otherwise: the ceiling of aiohttp on this
machine, measured in the same run as the server it is compared with.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web

DOCUMENT = {
    "id": "113512345678901234",
    "created_at": "2026-11-21T12:00:00.000Z",
    "content": "<p>Hello, world</p>",
    "visibility": "public",
    "account": {"id": "1", "username": "alice", "acct": "alice"},
}


async def get_json(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


async def post_inbox(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.Response(status=202)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/json", get_json)
    app.router.add_post("/inbox", post_inbox)
    return app


def main() -> None:
    port = int(sys.argv[1])
    web.run_app(make_app(), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
