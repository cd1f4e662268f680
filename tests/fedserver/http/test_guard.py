"""The address guard against real servers on loopback: refused means never connected.

Each test runs a server that counts its hits on 127.0.0.1 and turns the guard on
(`allow_private_addresses=False`); a refused request must leave the count at 0.
Redirect tests put the "public" peer on 127.0.0.2 and allow only that address, the
way an operator would allow an internal proxy.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from fedserver.errors import FetchError, FetchRefused
from fedserver.http import FetchPolicy, GuardedResolver, HttpClient

from .conftest import (
    FakeSigner,
    MakeClient,
    Serve,
    app_with,
    counting_app,
    document,
    hits,
    url_of,
)

GUARDED = {"allow_private_addresses": False}
#: The "public" peer of the redirect tests lives at 127.0.0.2 and only it is allowed.
PEER_ADDRESS = "127.0.0.2"
ALLOW_PEER = {
    "allow_private_addresses": False,
    "allowed_private_networks": (ipaddress.ip_network(f"{PEER_ADDRESS}/32"),),
}


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("2130706433", "2130706433 means 127.0.0.1 is a loopback address"),
        ("0x7f.1", "0x7f.1 means 127.0.0.1 is a loopback address"),
        ("0177.0.0.1", "0177.0.0.1 means 127.0.0.1 is a loopback address"),
        ("127.1", "127.1 means 127.0.0.1 is a loopback address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("0", "0 means 0.0.0.0 is an unspecified address"),
        ("[::1]", "::1 is a loopback address"),
        ("[::]", ":: is an unspecified address"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1 is an IPv4-mapped form of 127.0.0.1"),
        ("localhost", "localhost is a loopback name"),
        (
            "evil.test",
            "evil.test resolves to no public address (127.0.0.1 is a loopback",
        ),
    ],
)
async def test_loopback_in_any_spelling_is_never_connected(
    serve: Serve, make_client: MakeClient, host: str, message: str
) -> None:
    counter = await serve("evil.test", counting_app())
    client = await make_client(**GUARDED)
    url = f"http://{host}:{counter.port}/users/alice"

    with pytest.raises(FetchRefused, match=r"^refused: ") as caught:
        await client.fetch_document(url)

    assert message in str(caught.value)
    assert hits(counter) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
    ],
)
async def test_private_and_metadata_literals_are_refused(make_client: MakeClient, url: str) -> None:
    client = await make_client(**GUARDED)
    with pytest.raises(FetchRefused, match=r"^refused: "):
        await client.fetch_document(url)


async def test_every_kind_of_request_is_guarded(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    """Documents, JRD, media and deliveries all go through the same guard."""
    counter = await serve("evil.test", counting_app())
    client = await make_client(**GUARDED)
    url = url_of(counter, "evil.test", "/x")

    with pytest.raises(FetchRefused):
        await client.fetch_document(url)
    with pytest.raises(FetchRefused):
        await client.fetch_json(url)
    with pytest.raises(FetchRefused):
        await client.fetch_bytes(url)
    with pytest.raises(FetchRefused):
        await client.post_activity(url, b"{}", signer=signer)
    assert hits(counter) == []


async def test_http_is_refused_unless_allowed(serve: Serve, make_client: MakeClient) -> None:
    counter = await serve("remote.test", counting_app())
    client = await make_client(allow_http=False)

    with pytest.raises(FetchRefused, match=r"scheme 'http' is not allowed \(https only\)"):
        await client.fetch_document(url_of(counter, "remote.test"))
    assert hits(counter) == []


async def test_allowed_peer_is_reachable(serve: Serve, make_client: MakeClient) -> None:
    """Control for the redirect tests: the peer at 127.0.0.2 passes the guard."""

    async def note(request: web.Request) -> web.Response:
        return document(request)

    peer = await serve("remote.test", app_with({"/note": note}), address=PEER_ADDRESS)
    client = await make_client(**ALLOW_PEER)

    doc = await client.fetch_document(url_of(peer, "remote.test", "/note"))
    assert doc["type"] == "Note"


@pytest.mark.parametrize(
    "location",
    [
        "http://evil.test:{port}/",
        "http://127.0.0.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://localhost:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "gopher://evil.test:{port}/",
    ],
)
async def test_redirect_from_allowed_host_to_private_one_is_refused(
    serve: Serve, make_client: MakeClient, location: str
) -> None:
    counter = await serve("evil.test", counting_app())

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(location.format(port=counter.port))

    peer = await serve("remote.test", app_with({"/jrd": bounce}), address=PEER_ADDRESS)
    client = await make_client(**ALLOW_PEER)

    # fetch_json lets redirects change host, so only the address guard stops this one.
    with pytest.raises(FetchRefused, match=r"^refused: "):
        await client.fetch_json(url_of(peer, "remote.test", "/jrd"))
    assert hits(counter) == []


async def test_delivery_redirected_to_private_host_is_refused(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    counter = await serve("evil.test", counting_app())

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://evil.test:{counter.port}/inbox")

    peer = await serve("remote.test", app_with({"/inbox": moved}, "POST"), address=PEER_ADDRESS)
    client = await make_client(**ALLOW_PEER)

    with pytest.raises(FetchRefused, match=r"evil\.test resolves to no public address"):
        await client.post_activity(url_of(peer, "remote.test", "/inbox"), b"{}", signer=signer)
    assert hits(counter) == []


async def test_unknown_name_is_a_fetch_error(client: HttpClient) -> None:
    """A DNS failure is a FetchError (not a refusal), and says which URL."""
    with pytest.raises(FetchError, match=r"GET http://nowhere\.test/ failed") as caught:
        await client.fetch_document("http://nowhere.test/")
    assert not isinstance(caught.value, FetchRefused)


class _MixedResolver(AbstractResolver):
    """Answers one private and one public address for every name."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in ("10.0.0.1", "93.184.216.34")
        ]

    async def close(self) -> None:
        pass


async def test_guarded_resolver_drops_private_answers_and_keeps_public_ones() -> None:
    guarded = GuardedResolver(FetchPolicy(), _MixedResolver())
    answers = await guarded.resolve("mixed.test", 443)
    assert [answer["host"] for answer in answers] == ["93.184.216.34"]


async def test_guarded_resolver_refuses_when_nothing_public_is_left(
    serve: Serve, resolver: AbstractResolver
) -> None:
    counter = await serve("evil.test", counting_app())
    guarded = GuardedResolver(FetchPolicy(), resolver)
    with pytest.raises(FetchRefused, match=r"evil\.test resolves to no public address"):
        await guarded.resolve("evil.test", 80)
    assert hits(counter) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "evil.test"])
async def test_control_without_the_guard_the_counter_is_hit(
    serve: Serve, client: HttpClient, host: str
) -> None:
    """Proves the counter counts: the same request with the guard off connects."""
    counter = await serve("evil.test", counting_app())
    with pytest.raises(FetchError, match="Content-Type 'text/plain'"):
        await client.fetch_document(f"http://{host}:{counter.port}/users/alice")
    assert hits(counter) == ["GET /users/alice"]
