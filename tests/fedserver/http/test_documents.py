"""Document fetches: Accept, Content-Type, safe JSON, the id rule, statuses."""

from __future__ import annotations

import pytest
from aiohttp import web

from fedserver.errors import FetchError, FetchRefused
from fedserver.http import ACTIVITY_ACCEPT, FetchStatusError, HttpClient

from .conftest import MakeClient, Serve, app_with, document, url_of


def raw(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def serve_one(serve: Serve, response: web.Response) -> str:
    async def handler(request: web.Request) -> web.Response:
        return response

    server = await serve("remote.test", app_with({"/doc": handler}))
    return url_of(server, "remote.test", "/doc")


async def test_fetch_sends_the_activitystreams_accept(serve: Serve, client: HttpClient) -> None:
    seen: list[str | None] = []

    async def note(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept"))
        return document(request, content="hi")

    server = await serve("remote.test", app_with({"/note": note}))
    url = url_of(server, "remote.test", "/note")

    doc = await client.fetch_document(url)

    assert doc == {"id": url, "type": "Note", "content": "hi"}
    assert seen == [
        'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    ]
    assert seen[0] == ACTIVITY_ACCEPT


async def test_user_agent_comes_from_the_policy(serve: Serve, make_client: MakeClient) -> None:
    seen: list[str | None] = []

    async def note(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent"))
        return document(request)

    server = await serve("remote.test", app_with({"/note": note}))
    client = await make_client(user_agent="fedserver/0.1.0 (+https://example.com/)")
    await client.fetch_document(url_of(server, "remote.test", "/note"))
    assert seen == ["fedserver/0.1.0 (+https://example.com/)"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/activity+json",
        "application/activity+json; charset=utf-8",
        "application/ld+json",
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "Application/Activity+JSON",
    ],
)
async def test_activitystreams_content_types_are_accepted(
    serve: Serve, client: HttpClient, content_type: str
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return raw(b'{"id": "%s"}' % str(request.url).encode(), content_type)

    server = await serve("remote.test", app_with({"/doc": handler}))
    url = url_of(server, "remote.test", "/doc")
    assert (await client.fetch_document(url))["id"] == url


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "application/json", "text/plain", "application/jrd+json", ""],
)
async def test_other_content_types_are_refused_for_documents(
    serve: Serve, client: HttpClient, content_type: str
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return raw(b'{"id": "%s"}' % str(request.url).encode(), content_type)

    server = await serve("remote.test", app_with({"/doc": handler}))
    with pytest.raises(FetchError, match="answered Content-Type") as caught:
        await client.fetch_document(url_of(server, "remote.test", "/doc"))
    assert "not application/activity+json or application/ld+json" in str(caught.value)


async def test_id_mismatch_is_refused(serve: Serve, client: HttpClient) -> None:
    url = await serve_one(
        serve,
        raw(b'{"id": "https://remote.test/other"}', "application/activity+json"),
    )
    with pytest.raises(FetchError) as caught:
        await client.fetch_document(url)
    assert str(caught.value) == (
        f"document id 'https://remote.test/other' does not match requested URL {url!r}"
    )


@pytest.mark.parametrize(
    "body",
    [b'{"type": "Note"}', b'{"id": null}', b'{"id": ["x"]}', b'{"id": 5}'],
)
async def test_missing_or_odd_id_is_refused(serve: Serve, client: HttpClient, body: bytes) -> None:
    url = await serve_one(serve, raw(body, "application/activity+json"))
    with pytest.raises(FetchError, match="does not match requested URL"):
        await client.fetch_document(url)


async def test_fragment_is_not_sent_and_not_compared(serve: Serve, client: HttpClient) -> None:
    """A keyId like `<actor>#main-key` fetches the actor, whose id has no fragment."""
    paths: list[str] = []

    async def actor(request: web.Request) -> web.Response:
        paths.append(request.path_qs)
        return document(request, type="Person")

    server = await serve("remote.test", app_with({"/users/a": actor}))
    url = url_of(server, "remote.test", "/users/a")
    doc = await client.fetch_document(url + "#main-key")
    assert (doc["id"], paths) == (url, ["/users/a"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "is nested too deeply"),
        (b'{"id": "\xff\xfe"}', "is not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "is not valid JSON"),
        (b"{not json", "is not valid JSON"),
        (b'{"id": NaN}', "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b'["a list"]', "is a JSON list, not an object"),
        (b'"a string"', "is a JSON str, not an object"),
        (b"null", "is a JSON NoneType, not an object"),
    ],
)
async def test_bad_json_is_a_clean_fetch_error(
    serve: Serve, client: HttpClient, body: bytes, message: str
) -> None:
    url = await serve_one(serve, raw(body, "application/activity+json"))
    with pytest.raises(FetchError, match=message):
        await client.fetch_document(url)


@pytest.mark.parametrize(("status", "gone"), [(404, True), (410, True), (500, False)])
async def test_non_2xx_carries_the_remote_status(
    serve: Serve, client: HttpClient, status: int, gone: bool
) -> None:
    url = await serve_one(serve, web.Response(status=status, text="<html>"))
    with pytest.raises(FetchStatusError) as caught:
        await client.fetch_document(url)
    assert caught.value.response_status == status
    assert caught.value.is_gone is gone
    assert caught.value.status == 502  # what we answer with, untouched
    assert str(caught.value).startswith(f"GET {url} answered {status} ")


async def test_fetch_json_accepts_jrd_and_json(serve: Serve, client: HttpClient) -> None:
    seen: list[str | None] = []

    async def webfinger(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept"))
        return raw(b'{"subject": "acct:a@remote.test"}', "application/jrd+json")

    async def nodeinfo(request: web.Request) -> web.Response:
        profile = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.0#"'
        return raw(b'{"version": "2.0"}', profile)

    server = await serve("remote.test", app_with({"/wf": webfinger, "/nodeinfo/2.0": nodeinfo}))
    assert await client.fetch_json(url_of(server, "remote.test", "/wf")) == {
        "subject": "acct:a@remote.test"
    }
    assert await client.fetch_json(url_of(server, "remote.test", "/nodeinfo/2.0")) == {
        "version": "2.0"
    }
    assert seen == ["application/jrd+json, application/json"]


async def test_fetch_json_refuses_html(serve: Serve, client: HttpClient) -> None:
    url = await serve_one(serve, raw(b"<html></html>", "text/html"))
    with pytest.raises(FetchError, match="answered Content-Type 'text/html'"):
        await client.fetch_json(url)


async def test_fetch_bytes_returns_body_and_type(serve: Serve, client: HttpClient) -> None:
    url = await serve_one(serve, raw(b"\x89PNG...", "image/png"))
    fetched = await client.fetch_bytes(url)
    assert (fetched.url, fetched.content_type, fetched.body) == (
        url,
        "image/png",
        b"\x89PNG...",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "refused: 'not%20a%20url' is not an absolute URL"),
        ("/relative/path", "refused: '/relative/path' is not an absolute URL"),
        ("//remote.test/x", "refused: '//remote.test/x' is not an absolute URL"),
        ("https://", "refused: 'https://' has no host"),
        ("http://[::1/", "refused: 'http://[::1/' is not a valid URL"),
    ],
)
async def test_malformed_urls_are_refused(client: HttpClient, url: str, message: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        await client.fetch_document(url)
    assert str(caught.value) == message
