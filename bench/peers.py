"""Fake remote servers: real aiohttp listeners on loopback, one port per server.

    python -m bench.peers SPEC.json

Every server of the spec gets its own port (so its own host, `127.0.0.1:PORT`) and
serves Mastodon-shaped actor documents with their RSA keys (`#main-key` in the actor, so
one GET per new actor) and inboxes that answer 202 after `latency` seconds. A server's
`mode` is `live`, `hang` (accepts connections, never answers: a blackholed host, holding
the sender's connection until its timeout) or `refuse` (nothing listens: connection
refused).

All servers share one aiohttp application in one process; a control listener answers
`GET /stats` (what each server received: GETs and POSTs per path, connections accepted,
arrival times of POSTs) and `POST /reset`. The process prints one JSON line with the
ports once everything listens, then runs until stdin closes or it gets SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ACTIVITY_JSON = "application/activity+json"


@dataclass
class PeerSpec:
    mode: str = "live"
    latency: float = 0.0
    shared_inbox: bool = True
    #: (name, index into the spec's public keys)
    actors: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Peer:
    spec: PeerSpec
    port: int
    documents: dict[str, bytes] = field(default_factory=dict)
    gets: Counter[str] = field(default_factory=Counter)
    posts: Counter[str] = field(default_factory=Counter)
    post_times: list[float] = field(default_factory=list)
    protocols: set[object] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.gets.clear()
        self.posts.clear()
        self.post_times.clear()
        self.protocols.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "mode": self.spec.mode,
            "gets": dict(self.gets),
            "posts": dict(self.posts),
            "post_times": self.post_times,
            "connections": len(self.protocols),
        }


def actor_document(peer: Peer, name: str, public_pem: str) -> dict[str, Any]:
    uri = f"{peer.base_url}/users/{name}"
    document: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri,
        "type": "Person",
        "preferredUsername": name,
        "name": name.title(),
        "summary": "<p>A fake remote actor of the benchmark.</p>",
        "url": f"{peer.base_url}/@{name}",
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "published": "2024-01-01T00:00:00Z",
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": public_pem},
    }
    if peer.spec.shared_inbox:
        document["endpoints"] = {"sharedInbox": f"{peer.base_url}/inbox"}
    return document


class Peers:
    def __init__(self, specs: list[PeerSpec], public_pems: list[str]) -> None:
        self.specs = specs
        self.public_pems = public_pems
        self.by_port: dict[int, Peer] = {}
        self.peers: list[Peer] = []

    def _peer(self, request: web.Request) -> Peer:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        peer = self.by_port.get(sockname[1]) if sockname else None
        if peer is None:
            raise web.HTTPNotFound()
        peer.protocols.add(request.protocol)
        return peer

    async def actor(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        peer.gets[request.path] += 1
        body = peer.documents.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type=ACTIVITY_JSON)

    async def inbox(self, request: web.Request) -> web.Response:
        peer = self._peer(request)
        if peer.spec.mode == "hang":
            await asyncio.sleep(3600)
        await request.read()
        if peer.spec.latency:
            await asyncio.sleep(peer.spec.latency)
        peer.posts[request.path] += 1
        peer.post_times.append(time.time())
        return web.Response(status=202)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response([peer.stats() for peer in self.peers])

    async def reset(self, request: web.Request) -> web.Response:
        for peer in self.peers:
            peer.reset()
        return web.json_response({})

    async def serve(self) -> None:
        app = web.Application()
        app.router.add_get("/users/{name}", self.actor)
        app.router.add_post("/users/{name}/inbox", self.inbox)
        app.router.add_post("/inbox", self.inbox)
        control = web.Application()
        control.router.add_get("/stats", self.stats)
        control.router.add_post("/reset", self.reset)

        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        control_runner = web.AppRunner(
            control, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await control_runner.setup()
        control_site = web.TCPSite(control_runner, "127.0.0.1", 0)
        await control_site.start()
        control_port = _site_port(control_site)
        for spec in self.specs:
            if spec.mode == "refuse":
                port = _unused_port()
            else:
                site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
                await site.start()
                port = _site_port(site)
            peer = Peer(spec, port)
            for name, key in spec.actors:
                document = actor_document(peer, name, self.public_pems[key])
                peer.documents[name] = json.dumps(document).encode()
            self.by_port[port] = peer
            self.peers.append(peer)
        print(
            json.dumps({"control": control_port, "ports": [peer.port for peer in self.peers]}),
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        stdin = sys.stdin.fileno()
        loop.add_reader(stdin, lambda: None if os.read(stdin, 4096) else stop.set())
        await stop.wait()
        await runner.cleanup()
        await control_runner.cleanup()


def _site_port(site: web.TCPSite) -> int:
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    return int(server.sockets[0].getsockname()[1])


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    peers = Peers(
        [
            PeerSpec(
                mode=p["mode"],
                latency=p["latency"],
                shared_inbox=p["shared_inbox"],
                actors=[(name, key) for name, key in p["actors"]],
            )
            for p in spec["peers"]
        ],
        spec["public_pems"],
    )
    asyncio.run(peers.serve())


if __name__ == "__main__":
    main()
