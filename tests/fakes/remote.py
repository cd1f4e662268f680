"""Fake remote servers: real aiohttp apps on loopback that serve actors and keys the way
GoToSocial, snac, bovine and Mastodon do (../shared/PEERS.md), sign what they send to us,
and record what they receive.

Their signatures are built here by hand with `cryptography`, independently of
`fedserver.signatures`, so a test that passes shows our verifier agrees with a second
implementation, not with itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACTIVITY_JSON = "application/activity+json"


@dataclass(frozen=True)
class Style:
    """How one server implementation publishes keys and signs requests (PEERS.md)."""

    name: str
    #: Appended to the actor URL to make the keyId: a fragment, or a separate document.
    key_suffix: str
    algorithm: str
    #: The Digest header's algorithm label, as this peer writes it.
    digest_label: str
    post_headers: tuple[str, ...]
    get_headers: tuple[str, ...]
    #: The Content-Type of what it POSTs and of the actor documents it serves.
    post_content_type: str
    document_content_type: str


GOTOSOCIAL = Style(
    name="gotosocial",
    key_suffix="/main-key",  # a separate URL whose document is a stub of the owner
    algorithm="hs2019",
    digest_label="SHA-256",
    post_headers=("(request-target)", "host", "date", "digest"),
    get_headers=("(request-target)", "host", "date"),
    post_content_type=LD_JSON,
    document_content_type=ACTIVITY_JSON,
)
BOVINE = Style(
    name="bovine",
    key_suffix="#serverKey",
    algorithm="rsa-sha256",
    digest_label="sha-256",  # lowercase
    post_headers=("(request-target)", "host", "date", "digest", "content-type"),
    get_headers=("(request-target)", "host", "date"),
    post_content_type=ACTIVITY_JSON,
    document_content_type=ACTIVITY_JSON,
)
SNAC = Style(
    name="snac",
    key_suffix="#main-key",
    algorithm="rsa-sha256",
    digest_label="SHA-256",
    post_headers=("(request-target)", "host", "digest", "date"),
    # snac signs its GETs with a Digest of the empty body.
    get_headers=("(request-target)", "host", "digest", "date"),
    post_content_type=ACTIVITY_JSON,
    document_content_type=LD_JSON,
)
MASTODON = Style(
    name="mastodon",
    key_suffix="#main-key",
    algorithm="rsa-sha256",
    digest_label="SHA-256",
    post_headers=("(request-target)", "host", "date", "digest", "content-type"),
    get_headers=("(request-target)", "host", "date", "accept"),
    post_content_type=ACTIVITY_JSON,
    document_content_type=ACTIVITY_JSON,
)
STYLES = (GOTOSOCIAL, BOVINE, SNAC, MASTODON)


@cache
def test_rsa_key(index: int) -> rsa.RSAPrivateKey:
    """RSA-2048 keys generated once per test process (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@dataclass
class FakeActor:
    name: str
    key: rsa.RSAPrivateKey
    #: Answer 410 for the actor and its key (a deleted account).
    gone: bool = False
    also_known_as: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakePeer:
    """One remote server at `http://<domain>` in a given style."""

    def __init__(self, domain: str, style: Style, clock: Callable[[], datetime]) -> None:
        self.domain = domain
        self.base_url = f"http://{domain}"
        self.style = style
        self.clock = clock
        self.actors: dict[str, FakeActor] = {}
        self.received: list[Received] = []
        #: GET paths served, counted (to assert fetch coalescing and "no fetch").
        self.gets: Counter[str] = Counter()
        self.app = web.Application()
        self.app.router.add_get("/.well-known/webfinger", self._webfinger)
        self.app.router.add_get("/users/{name}", self._actor)
        self.app.router.add_get("/users/{name}/main-key", self._key_stub)
        self.app.router.add_post("/users/{name}/inbox", self._inbox)
        self.app.router.add_post("/inbox", self._inbox)

    # -- identities ------------------------------------------------------------------

    def add_actor(self, name: str, key: rsa.RSAPrivateKey | None = None) -> FakeActor:
        actor = FakeActor(name, key or test_rsa_key(len(self.actors)))
        self.actors[name] = actor
        return actor

    def actor_uri(self, name: str) -> str:
        return f"{self.base_url}/users/{name}"

    def key_id(self, name: str) -> str:
        return self.actor_uri(name) + self.style.key_suffix

    def actor_document(self, name: str) -> dict[str, Any]:
        actor = self.actors[name]
        uri = self.actor_uri(name)
        return {
            "@context": [
                "https://www.w3.org/ns/activitystreams",
                "https://w3id.org/security/v1",
            ],
            "id": uri,
            "type": "Person",
            "preferredUsername": name,
            "name": name.title(),
            "inbox": uri + "/inbox",
            "outbox": uri + "/outbox",
            "followers": uri + "/followers",
            "following": uri + "/following",
            "endpoints": {"sharedInbox": self.base_url + "/inbox"},
            "alsoKnownAs": actor.also_known_as,
            "publicKey": {
                "id": self.key_id(name),
                "owner": uri,
                "publicKeyPem": public_pem(actor.key),
            },
        }

    # -- signing ---------------------------------------------------------------------

    def signed_headers(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        *,
        name: str,
        signed: Sequence[str] | None = None,
        date: datetime | None = None,
        key_id: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        digest_of: bytes | None = None,
    ) -> dict[str, str]:
        """Headers for a request signed the way this peer signs (override any part)."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        names = list(
            signed or (self.style.post_headers if method == "POST" else self.style.get_headers)
        )
        headers = {
            "Host": parts.netloc,
            "Date": http_date(date or self.clock()),
            "Accept": ACTIVITY_JSON,
        }
        if method == "POST":
            headers["Content-Type"] = self.style.post_content_type
        if method == "POST" or "digest" in names:
            hashed = hashlib.sha256(body if digest_of is None else digest_of).digest()
            headers["Digest"] = f"{self.style.digest_label}={base64.b64encode(hashed).decode()}"
        lines = []
        lowered = {k.lower(): v for k, v in headers.items()}
        for header in names:
            if header == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            else:
                lines.append(f"{header}: {lowered[header]}")
        signature = (key or self.actors[name].key).sign(
            "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        headers["Signature"] = (
            f'keyId="{key_id or self.key_id(name)}",algorithm="{self.style.algorithm}",'
            f'headers="{" ".join(names)}",signature="{base64.b64encode(signature).decode()}"'
        )
        return headers

    def activity(self, name: str, kind: str, obj: Any, **extra: Any) -> dict[str, Any]:
        """An activity by one of our actors, with an id on our host."""
        self._serial = getattr(self, "_serial", 0) + 1
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.actor_uri(name)}/activities/{self._serial}",
            "type": kind,
            "actor": self.actor_uri(name),
            "object": obj,
            **extra,
        }

    # -- handlers --------------------------------------------------------------------

    def _document_response(self, document: dict[str, Any]) -> web.Response:
        return web.Response(
            body=json.dumps(document).encode(),
            headers={"Content-Type": self.style.document_content_type},
        )

    async def _actor(self, request: web.Request) -> web.Response:
        self.gets[request.path] += 1
        actor = self.actors.get(request.match_info["name"])
        if actor is None:
            raise web.HTTPNotFound()
        if actor.gone:
            raise web.HTTPGone()
        return self._document_response(self.actor_document(actor.name))

    async def _key_stub(self, request: web.Request) -> web.Response:
        """GoToSocial's key document: a stub of the owner with publicKey and no inbox."""
        self.gets[request.path] += 1
        actor = self.actors.get(request.match_info["name"])
        if actor is None or self.style.key_suffix != "/main-key":
            raise web.HTTPNotFound()
        if actor.gone:
            raise web.HTTPGone()
        full = self.actor_document(actor.name)
        stub = {
            "@context": full["@context"],
            "id": full["id"],
            "type": "Person",
            "preferredUsername": actor.name,
            "publicKey": full["publicKey"],
        }
        return self._document_response(stub)

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        name = resource.removeprefix("acct:").split("@", 1)[0]
        if name not in self.actors:
            raise web.HTTPNotFound()
        return web.json_response(
            {
                "subject": f"acct:{name}@{self.domain}",
                "links": [{"rel": "self", "type": ACTIVITY_JSON, "href": self.actor_uri(name)}],
            },
            content_type="application/jrd+json",
        )

    async def _inbox(self, request: web.Request) -> web.Response:
        self.received.append(
            Received(request.method, request.path, dict(request.headers), await request.read())
        )
        return web.Response(status=202)
