"""fedserver/accesslog.py: the line a request leaves on the `aiohttp.access` logger."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest
from aiohttp import web

from fedserver.accesslog import AccessLog


async def test_a_request_leaves_one_line_with_what_an_operator_looks_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="hello", status=201)

    app = web.Application()
    app.router.add_get("/users/alice", handler)
    runner = web.AppRunner(app, access_log_class=AccessLog)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"http://127.0.0.1:{port}/users/alice?page=2",
                    headers={"User-Agent": "Mastodon/4.3 (+https://a.example/)"},
                ) as response,
            ):
                assert response.status == 201
                await response.read()
    finally:
        await runner.cleanup()
    [line] = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert re.fullmatch(
        r'127\.0\.0\.1 "GET /users/alice\?page=2 HTTP/1\.1" 201 \d+ "-" '
        r'"Mastodon/4\.3 \(\+https://a\.example/\)" \d+\.\dms',
        line,
    ), line
