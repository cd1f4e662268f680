"""Mastodon.py (a real client, PyPI) drives whole sessions against real `fedserver serve`
processes: register an app, sign in with the password grant and with the authorization
code flow (PKCE), post, page the home timeline with fetch_next, favourite, boost, follow,
read notifications, search with resolve, delete, revoke. One session spans two instances.

Every JSON entity the server answered in these sessions is validated against the
community OpenAPI schemas (skipped, with a reason, only when the spec file is absent).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mastodon import Mastodon, MastodonNotFoundError, MastodonUnauthorizedError

from fedserver.cli import main
from tests.api.openapi import assert_valid
from tests.fakes.processes import free_port, start_server, stop, wait_for_port

SCOPES = ["read", "write", "follow", "push"]
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery staple"
T = TypeVar("T")

#: Which OpenAPI schema each API answer must match (method, path pattern, schema).
SCHEMAS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/v1/apps$"), "CredentialApplication"),
    ("POST", re.compile(r"^/oauth/token$"), "Token"),
    ("GET", re.compile(r"^/api/v1/accounts/verify_credentials$"), "CredentialAccount"),
    ("GET", re.compile(r"^/api/v1/instance/?$"), "V1Instance"),
    ("GET", re.compile(r"^/api/v2/instance/?$"), "Instance"),
    ("POST", re.compile(r"^/api/v1/statuses$"), "Status"),
    ("GET", re.compile(r"^/api/v1/statuses/\d+$"), "Status"),
    ("DELETE", re.compile(r"^/api/v1/statuses/\d+$"), "Status"),
    ("POST", re.compile(r"^/api/v1/statuses/\d+/(un)?(favourite|reblog)$"), "Status"),
    ("GET", re.compile(r"^/api/v1/statuses/\d+/context$"), "Context"),
    ("GET", re.compile(r"^/api/v1/timelines/(home|public)$"), "Status"),
    ("GET", re.compile(r"^/api/v1/notifications$"), "Notification"),
    ("GET", re.compile(r"^/api/v2/search$"), "Search"),
    ("POST", re.compile(r"^/api/v1/accounts/\d+/(un)?follow$"), "Relationship"),
    ("GET", re.compile(r"^/api/v1/accounts/relationships$"), "Relationship"),
    ("GET", re.compile(r"^/api/v1/accounts/\d+$"), "Account"),
]


@dataclass
class Recorder:
    """Keeps every JSON answer of a requests session, to validate afterwards."""

    answers: list[tuple[str, str, Any]] = field(default_factory=list)

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.headers.get("Content-Type", "").startswith("application/json"):
            path = urlsplit(response.request.url or "").path
            self.answers.append((response.request.method or "", path, response.json()))

    def session(self) -> requests.Session:
        session = requests.Session()
        session.hooks["response"].append(self.hook)
        return session

    def validate(self) -> int:
        """Validate every recorded answer that has a schema; returns how many."""
        checked = 0
        for method, path, body in self.answers:
            for schema_method, pattern, schema in SCHEMAS:
                if method == schema_method and pattern.match(path) and not _is_error(body):
                    assert_valid(body, schema)
                    checked += 1
        return checked


def _is_error(body: Any) -> bool:
    return isinstance(body, dict) and "error" in body


@dataclass
class Instance:
    base_url: str
    domain: str
    config: Path


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[str], Instance]]:
    """Start `fedserver serve` processes (open registrations, password grant on, loopback
    federation allowed); all are stopped at the end."""
    processes = []

    def start(name: str) -> Instance:
        port = free_port()
        domain = f"localhost:{port}"
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "config.toml"
        config.write_text(
            f'[instance]\ndomain = "{domain}"\nbase_url = "http://{domain}"\nname = "{name}"\n'
            f'[server]\nport = {port}\n[database]\npath = "{name}.sqlite3"\n'
            '[registrations]\nmode = "open"\n[api]\npassword_grant = true\n'
            "[federation]\nallow_http = true\nallow_private_addresses = true\n"
            "[delivery]\npoll_seconds = 0.1\n"
        )
        log = folder / "serve.log"
        process = start_server(config, log)
        processes.append(process)
        wait_for_port(process, port, log)
        return Instance(f"http://{domain}", domain, config)

    try:
        yield start
    finally:
        for process in processes:
            stop(process)


def create_user(instance: Instance, name: str) -> None:
    email = f"{name}@example.com"
    code = main(
        ["--config", str(instance.config), "user", "create", name, "--password", PASSWORD,
         "--email", email]
    )  # fmt: skip
    assert code == 0


def client(instance: Instance, recorder: Recorder, **credentials: str) -> Mastodon:
    return Mastodon(api_base_url=instance.base_url, session=recorder.session(), **credentials)


def password_session(instance: Instance, name: str, recorder: Recorder) -> Mastodon:
    """Register an app and sign in with the password grant (e-mail as username)."""
    client_id, client_secret = Mastodon.create_app(
        "fedserver test",
        api_base_url=instance.base_url,
        scopes=SCOPES,
        redirect_uris=OOB,
        session=recorder.session(),
    )
    api = client(instance, recorder, client_id=client_id, client_secret=client_secret)
    api.log_in(f"{name}@example.com", PASSWORD, scopes=SCOPES, allow_http=True)
    return api


def eventually(check: Callable[[], T], *, seconds: float = 20.0) -> T:
    """Poll until `check` returns something truthy (federation between processes takes a
    moment: the delivery and inbox workers run in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for federation")
        time.sleep(0.1)


def test_a_whole_session_on_one_instance(launch: Callable[[str], Instance]) -> None:
    recorder = Recorder()
    a = launch("a")
    create_user(a, "alice")
    create_user(a, "carol")
    alice = password_session(a, "alice", recorder)
    carol = password_session(a, "carol", recorder)

    me = alice.account_verify_credentials()
    assert me.acct == "alice"
    assert me.source.privacy == "public"
    assert alice.app_verify_credentials().name == "fedserver test"
    assert alice.instance().domain == a.domain
    assert alice.instance_v1().uri == a.domain

    first = alice.status_post("Hello from Mastodon.py #first")
    assert alice.status(first.id).content.startswith("<p>Hello from Mastodon.py")
    for n in range(4):
        alice.status_post(f"post {n}")
    page = alice.timeline_home(limit=2)
    older = alice.fetch_next(page)
    oldest = alice.fetch_next(older)
    seen = [s.id for s in page + older + oldest]
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)
    assert seen[-1] == first.id

    faved = carol.status_favourite(first.id)
    assert faved.favourited is True
    boosted = carol.status_reblog(first.id)
    assert boosted.reblog.id == first.id
    kinds = sorted(n.type for n in alice.notifications())
    assert kinds == ["favourite", "reblog"]

    found = carol.search_v2("alice", resolve=True, result_type="accounts")
    assert [acc.acct for acc in found.accounts] == ["alice"]
    relationship = carol.account_follow(found.accounts[0].id)
    assert relationship.following is True
    assert alice.notifications(types=["follow"])[0].account.acct == "carol"

    deleted = alice.status_delete(first.id)
    assert deleted.text == "Hello from Mastodon.py #first"
    with pytest.raises(MastodonNotFoundError):
        alice.status(first.id)

    alice.revoke_access_token(allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        alice.account_verify_credentials()

    assert recorder.validate() > 20


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def test_authorization_code_flow_with_pkce(launch: Callable[[str], Instance]) -> None:
    """The flow apps use: the browser signs in on our page (no JavaScript), the app
    exchanges the code with its PKCE verifier, then Mastodon.py uses the token."""
    recorder = Recorder()
    a = launch("a")
    create_user(a, "alice")
    client_id, client_secret = Mastodon.create_app(
        "pkce app", api_base_url=a.base_url, scopes=SCOPES, redirect_uris=OOB,
        session=recorder.session(),
    )  # fmt: skip
    app = client(a, recorder, client_id=client_id, client_secret=client_secret)
    verifier, challenge = pkce_pair()
    url = app.auth_request_url(scopes=SCOPES, allow_http=True, state="xyz")
    url += f"&code_challenge={challenge}&code_challenge_method=S256"

    browser = requests.Session()
    page = browser.get(url)
    assert page.status_code == 200
    assert "pkce app" in page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    form.update(username="alice", password=PASSWORD, decision="authorize")
    answer = browser.post(f"{a.base_url}/oauth/authorize", data=form)
    assert answer.status_code == 200
    match = re.search(r'<code class="authorization-code">([^<]+)</code>', answer.text)
    assert match is not None, answer.text
    code = match.group(1)

    token = requests.post(
        f"{a.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": client_id,
              "client_secret": client_secret, "redirect_uri": OOB, "code_verifier": verifier},
    )  # fmt: skip
    assert token.status_code == 200, token.text
    assert set(token.json()["scope"].split()) == set(SCOPES)
    alice = client(a, recorder, access_token=token.json()["access_token"])
    assert alice.account_verify_credentials().acct == "alice"
    assert alice.status_post("signed in with a code").visibility == "public"
    # The code was single-use.
    again = requests.post(
        f"{a.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": client_id,
              "client_secret": client_secret, "redirect_uri": OOB, "code_verifier": verifier},
    )  # fmt: skip
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert parse_qs(urlsplit(url).query)["state"] == ["xyz"]
    assert recorder.validate() >= 3


def test_a_session_across_two_instances(launch: Callable[[str], Instance]) -> None:
    """alice@A finds bob@B through search, follows him, bob posts, alice sees it in her home
    timeline and favourites it, and bob gets the notification."""
    recorder = Recorder()
    a, b = launch("a"), launch("b")
    create_user(a, "alice")
    create_user(b, "bob")
    alice = password_session(a, "alice", recorder)
    bob = password_session(b, "bob", recorder)

    found = alice.search_v2(f"bob@{b.domain}", resolve=True, result_type="accounts")
    assert [acc.acct for acc in found.accounts] == [f"bob@{b.domain}"]
    bob_on_a = found.accounts[0]
    alice.account_follow(bob_on_a.id)
    eventually(lambda: alice.account_relationships(bob_on_a.id)[0].following)
    assert bob.account_verify_credentials().followers_count == 1

    post = bob.status_post("Hello, federated world")
    seen = eventually(
        lambda: [s for s in alice.timeline_home() if s.content.endswith("federated world</p>")]
    )
    alice.status_favourite(seen[0].id)
    alice.status_reblog(seen[0].id)

    notified = eventually(
        lambda: (
            sorted(n.type for n in bob.notifications() if n.status and n.status.id == post.id)
            == ["favourite", "reblog"]
        )
    )
    assert notified
    favouriter = bob.notifications(types=["favourite"])[0].account
    assert favouriter.acct == f"alice@{a.domain}"
    assert bob.status(post.id).favourites_count == 1

    bob.status_delete(post.id)
    eventually(lambda: not [s for s in alice.timeline_home() if s.id == seen[0].id])
    assert recorder.validate() > 10
