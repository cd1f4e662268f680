"""Every error leaves as JSON `{"error", "code"}`: router 404/405, 413, and unexpected 500s."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from fedserver.app import create_app
from fedserver.config import Config
from tests.conftest import Client, FrozenClock, MakeConfig
from tests.fakes.resolver import FakeResolver


def assert_json_error(response_text: str, content_type: str) -> None:
    assert content_type == "application/json"
    assert "<html" not in response_text.lower()


async def test_unknown_path_is_a_json_404(app_client: Client) -> None:
    response = await app_client.get("/no/such/page", headers={"Accept": "text/html"})

    assert response.status == 404
    text = await response.text()
    assert_json_error(text, response.content_type)
    assert await response.json() == {"error": "not found", "code": "not_found"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_wrong_method_is_a_json_405_with_allow(app_client: Client) -> None:
    response = await app_client.delete("/.well-known/webfinger")

    assert response.status == 405
    assert_json_error(await response.text(), response.content_type)
    assert await response.json() == {
        "error": "method DELETE not allowed",
        "code": "method_not_allowed",
    }
    assert "GET" in response.headers["Allow"]


async def echo_length(request: web.Request) -> web.Response:
    return web.json_response({"length": len(await request.read())})


async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("database password is hunter2")


@pytest.fixture
async def small_body_client(
    aiohttp_client: AiohttpClient,
    make_config: MakeConfig,
    clock: FrozenClock,
    resolver: FakeResolver,
) -> Client:
    """The real app with a 1000-byte body limit and two throwaway routes: one that reads
    the body (nothing in the app reads one yet) and one that fails with a bug."""
    config: Config = make_config(limits={"max_body_bytes": 1000})
    app = create_app(config, resolver=resolver, clock=clock)
    app.router.add_post("/test/echo", echo_length)
    app.router.add_get("/test/explode", explode)
    return await aiohttp_client(app)


async def test_body_within_the_limit_is_read(small_body_client: Client) -> None:
    response = await small_body_client.post("/test/echo", data=b"x" * 1000)
    assert response.status == 200
    assert await response.json() == {"length": 1000}


async def test_body_over_the_limit_is_a_json_413(small_body_client: Client) -> None:
    response = await small_body_client.post("/test/echo", data=b"x" * 1001)

    assert response.status == 413
    assert_json_error(await response.text(), response.content_type)
    assert await response.json() == {
        "error": "request body is larger than 1,000 bytes",
        "code": "payload_too_large",
    }


async def test_bug_in_a_handler_is_a_json_500_without_details(
    small_body_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="fedserver.middleware"):
        response = await small_body_client.get("/test/explode")

    assert response.status == 500
    text = await response.text()
    assert_json_error(text, response.content_type)
    assert await response.json() == {"error": "internal server error", "code": "internal_error"}
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    # The operator sees it in the log, with the traceback.
    [record] = [r for r in caplog.records if r.name == "fedserver.middleware"]
    assert "GET /test/explode" in record.getMessage()
    assert record.exc_info is not None

    # The server keeps answering.
    after = await small_body_client.get("/robots.txt")
    assert after.status == 200
    again = await small_body_client.get("/test/explode")
    assert again.status == 500
