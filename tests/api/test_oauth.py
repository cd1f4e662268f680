"""OAuth2 over HTTP, every flow as real clients drive it (../shared/CLIENTS.md), and the
SECURITY.md R11 / checklist 26 cases: exact redirect URIs, scopes within the app's,
single-use expiring codes, PKCE S256 only, a read token refused on a write endpoint.

The helpers at the top are shared with test_registration.py and test_rate_limits.py.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from actors.service import create_user
from fedserver.api.auth import require_user
from fedserver.app import create_app
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.config import Config
from fedserver.db import LocalUser
from tests.api.openapi import assert_valid, require_spec
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp
from tests.fakes.resolver import FakeResolver

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "https://app.example/callback"
PASSWORD = "correct horse battery"
MASTODON_PY_SCOPES = "read write follow push"


# -- helpers (also imported by the other OAuth-related test modules) ------------------


async def add_user(client: Client, username: str, **options: Any) -> LocalUser:
    """A local user in the app behind `client` (any config, unlike `make_user`)."""
    app = client.app
    return await create_user(
        app[store_key],
        app[ids_key],
        app[clock_key](),
        username=username,
        password=options.pop("password", PASSWORD),
        email=options.pop("email", f"{username}@mail.example"),
        is_admin=options.pop("is_admin", False),
        approved=options.pop("approved", True),
        reserved={app[config_key].instance.host},
    )


async def register_app(
    client: Client,
    *,
    scopes: str = MASTODON_PY_SCOPES,
    redirect_uris: str | list[str] = OOB,
    as_json: bool = False,
) -> dict[str, Any]:
    body = {"client_name": "Test App", "scopes": scopes, "redirect_uris": redirect_uris}
    if as_json:
        response = await client.post("/api/v1/apps", json=body)
    else:
        assert isinstance(redirect_uris, str)
        response = await client.post("/api/v1/apps", data=body)
    assert response.status == 200, await response.text()
    app: dict[str, Any] = await response.json()
    return app


class FormParser(HTMLParser):
    """The inputs of the authorize page's form: name → value."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append(values)
        if tag == "input" and values.get("name") and values.get("type") == "hidden":
            self.inputs[str(values["name"])] = values.get("value") or ""


def hidden_inputs(html: str) -> dict[str, str]:
    parser = FormParser()
    parser.feed(html)
    return parser.inputs


def authorize_query(app: dict[str, Any], **extra: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": app["redirect_uris"][0],
        "scope": " ".join(app["scopes"]),
    }
    query.update(extra)
    return query


async def consent_form(client: Client, app: dict[str, Any], **extra: str) -> dict[str, str]:
    """GET the authorize page; the hidden fields its form would POST back."""
    response = await client.get("/oauth/authorize", params=authorize_query(app, **extra))
    assert response.status == 200, await response.text()
    return hidden_inputs(await response.text())


async def submit(
    client: Client,
    fields: dict[str, str],
    *,
    username: str = "alice",
    password: str = PASSWORD,
    decision: str = "authorize",
) -> Any:
    data = {**fields, "username": username, "password": password, "decision": decision}
    return await client.post("/oauth/authorize", data=data, allow_redirects=False)


def location_query(response: Any) -> dict[str, str]:
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorization_code(
    client: Client, app: dict[str, Any], username: str = "alice", **extra: str
) -> str:
    """Sign in and consent on the page; the code the app receives."""
    fields = await consent_form(client, app, **extra)
    response = await submit(client, fields, username=username)
    if app["redirect_uris"][0] == OOB:
        assert response.status == 200, await response.text()
        return code_on_page(await response.text())
    assert response.status == 302, await response.text()
    return location_query(response)["code"]


def code_on_page(html: str) -> str:
    start = html.index('class="authorization-code">') + len('class="authorization-code">')
    return html[start : html.index("<", start)]


async def exchange(
    client: Client, app: dict[str, Any], code: str, *, as_json: bool = False, **extra: str
) -> Any:
    body = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": app["redirect_uris"][0],
        "code": code,
        **extra,
    }
    if as_json:
        return await client.post("/oauth/token", json=body)
    return await client.post("/oauth/token", data=body)


async def user_token(client: Client, app: dict[str, Any], username: str = "alice") -> str:
    response = await exchange(client, app, await authorization_code(client, app, username))
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


async def app_token(client: Client, app: dict[str, Any], scope: str | None = None) -> str:
    body = {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    if scope is not None:
        body["scope"] = scope
    response = await client.post("/oauth/token", data=body)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count_rows(client: Client, table: str) -> int:
    assert table in {"oauth_codes", "oauth_tokens", "oauth_apps", "users"}
    row = await client.app[store_key].db.fetch_one(f"SELECT count(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- app registration -----------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
async def test_register_app_answers_the_application_entity(
    app_client: Client, as_json: bool
) -> None:
    app = await register_app(app_client, redirect_uris=f"{OOB}\n{CALLBACK}", as_json=as_json)

    assert isinstance(app["id"], str)
    assert app["name"] == "Test App"
    assert app["website"] is None
    assert app["redirect_uris"] == [OOB, CALLBACK]
    assert app["redirect_uri"] == f"{OOB}\n{CALLBACK}"
    assert app["scopes"] == ["read", "write", "follow", "push"]
    assert len(app["client_id"]) >= 40
    assert len(app["client_secret"]) >= 40
    assert app["client_secret_expires_at"] == 0
    assert app["vapid_key"] == ""
    # The secret is stored hashed only.
    row = await app_client.app[store_key].db.fetch_one("SELECT * FROM oauth_apps")
    assert row is not None
    assert app["client_secret"] not in tuple(row)


async def test_register_app_takes_redirect_uris_as_a_json_array_and_a_website(
    app_client: Client,
) -> None:
    response = await app_client.post(
        "/api/v1/apps",
        json={
            "client_name": "toot",
            "redirect_uris": [CALLBACK, "myapp://oauth"],
            "website": "https://toot.example",
            "unknown_field": 1,
        },
    )

    assert response.status == 200
    app = await response.json()
    assert app["redirect_uris"] == [CALLBACK, "myapp://oauth"]
    assert app["website"] == "https://toot.example"
    assert app["scopes"] == ["read"]  # Mastodon's default


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/path",
        "https://app.example/cb#fragment",
    ],
)
async def test_register_app_refuses_dangerous_redirect_uris(app_client: Client, uri: str) -> None:
    response = await app_client.post(
        "/api/v1/apps", json={"client_name": "evil", "redirect_uris": [CALLBACK, uri]}
    )

    assert response.status == 422
    assert "redirect URI" in (await response.json())["error"]
    assert await count_rows(app_client, "oauth_apps") == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"client_name": "x", "redirect_uris": OOB, "scopes": "read destroy"}, "destroy"),
        ({"client_name": "", "redirect_uris": OOB}, "client_name"),
        ({"redirect_uris": OOB}, "client_name"),
        ({"client_name": "x"}, "redirect_uris"),
        ({"client_name": "x", "redirect_uris": OOB, "website": "ftp://x"}, "website"),
    ],
)
async def test_register_app_validation(
    app_client: Client, body: dict[str, str], message: str
) -> None:
    response = await app_client.post("/api/v1/apps", data=body)

    assert response.status == 422
    assert message in (await response.json())["error"]
    assert await count_rows(app_client, "oauth_apps") == 0


async def test_app_verify_credentials_hides_the_secret(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client)

    for token in (await app_token(app_client, app), await user_token(app_client, app)):
        response = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
        assert response.status == 200
        shown = await response.json()
        assert shown["name"] == "Test App"
        assert shown["id"] == app["id"]
        assert "client_secret" not in shown

    response = await app_client.get("/api/v1/apps/verify_credentials")
    assert response.status == 401
    response = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer("nope"))
    assert response.status == 401


async def test_entities_match_the_openapi_description(app_client: Client) -> None:
    require_spec()
    app = await register_app(app_client, redirect_uris=f"{OOB} {CALLBACK} myapp://oauth")
    token = await app_token(app_client, app)
    response = await app_client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    shown = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer(token))

    assert_valid(app, "CredentialApplication")
    assert_valid(await response.json(), "Token")
    assert_valid(await shown.json(), "Application")


# -- the authorize page ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/authorize", "/oauth/authorize/"])
async def test_authorize_page_names_the_app_and_scopes(app_client: Client, path: str) -> None:
    app = await register_app(app_client, redirect_uris=CALLBACK)

    response = await app_client.get(path, params=authorize_query(app, state="xyz"))

    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert "Test App" in html
    for scope in ("read", "write", "follow", "push"):
        assert f"<code>{scope}</code>" in html
    assert 'name="password"' in html
    assert 'value="authorize"' in html
    assert 'value="deny"' in html
    assert "<script" not in html
    fields = hidden_inputs(html)
    assert fields["client_id"] == app["client_id"]
    assert fields["state"] == "xyz"
    assert fields["csrf_token"]
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.example" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"


async def test_authorization_code_flow(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app, state="opaque state/with spaces")

    response = await submit(app_client, fields)

    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    query = location_query(response)
    assert query["state"] == "opaque state/with spaces"
    response = await exchange(app_client, app, query["code"])
    assert response.status == 200
    token = await response.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == MASTODON_PY_SCOPES
    assert isinstance(token["created_at"], int)
    assert response.headers["Cache-Control"] == "no-store"
    check = await app_client.get(
        "/api/v1/apps/verify_credentials", headers=bearer(token["access_token"])
    )
    assert check.status == 200
    # The code is stored hashed.
    row = await app_client.app[store_key].db.fetch_one("SELECT * FROM oauth_codes")
    assert row is not None
    assert query["code"] not in tuple(row)


async def test_redirect_uri_with_a_query_keeps_it(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK + "?from=oauth")

    response = await submit(app_client, await consent_form(app_client, app))

    assert response.headers["Location"].startswith(CALLBACK + "?from=oauth&code=")


async def test_mastodon_py_junk_parameters_are_tolerated(
    app_client: Client, make_user: Any
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    junk = {"force_login": "False", "state": "None", "lang": "None"}

    fields = await consent_form(app_client, app, **junk)
    response = await submit(app_client, {**fields, "force_login": "False", "lang": "None"})

    assert response.status == 302
    assert location_query(response)["state"] == "None"


async def test_out_of_band_shows_the_code(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=OOB)
    fields = await consent_form(app_client, app)

    response = await submit(app_client, fields)

    assert response.status == 200
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    code = code_on_page(await response.text())
    assert len(code) >= 40
    assert (await exchange(app_client, app, code)).status == 200


async def test_sign_in_by_email(app_client: Client, make_user: Any) -> None:
    await make_user("alice", email="alice@mail.example")
    app = await register_app(app_client, redirect_uris=CALLBACK)

    response = await submit(
        app_client, await consent_form(app_client, app), username="Alice@Mail.example"
    )

    assert response.status == 302
    assert "code" in location_query(response)


async def test_deny_redirects_with_access_denied(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app, state="s1")

    response = await submit(app_client, fields, username="", password="", decision="deny")

    assert response.status == 302
    assert location_query(response) == {
        "error": "access_denied",
        "error_description": "The resource owner denied the request.",
        "state": "s1",
    }
    assert await count_rows(app_client, "oauth_codes") == 0


async def test_wrong_password_shows_the_page_again(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app)

    for username, password in (("alice", "wrong password"), ("nobody", PASSWORD)):
        response = await submit(app_client, fields, username=username, password=password)
        assert response.status == 422
        html = await response.text()
        assert "Wrong username, e-mail address or password" in html
        assert hidden_inputs(html)["csrf_token"]  # a fresh form to try again
    assert await count_rows(app_client, "oauth_codes") == 0


async def test_unapproved_and_deleted_users_cannot_authorize(
    app_client: Client, make_user: Any
) -> None:
    await make_user("pending", approved=False)
    gone = await make_user("gone")
    await app_client.app[store_key].accounts.mark_deleted(
        gone.account.id, app_client.app[clock_key]()
    )
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app)

    response = await submit(app_client, fields, username="pending")
    assert response.status == 403
    assert "waiting for approval" in await response.text()
    response = await submit(app_client, fields, username="gone")
    assert response.status == 422
    assert await count_rows(app_client, "oauth_codes") == 0


# -- CSRF -----------------------------------------------------------------------------


def _flip_last(token: str) -> str:
    return token[:-1] + ("1" if token[-1] == "0" else "0")


def _later_timestamp(token: str) -> str:
    issued, _, mac = token.partition(".")
    return f"{int(issued) + 1}.{mac}"


TAMPERS = {
    "missing": lambda f: f.pop("csrf_token"),
    "bad-mac": lambda f: f.update(csrf_token=_flip_last(f["csrf_token"])),
    "garbage": lambda f: f.update(csrf_token="garbage"),
    "empty": lambda f: f.update(csrf_token=""),
    "timestamp-changed": lambda f: f.update(csrf_token=_later_timestamp(f["csrf_token"])),
    "scope-changed": lambda f: f.update(scope="read"),
    "state-changed": lambda f: f.update(state="other"),
    "challenge-added": lambda f: f.update(
        code_challenge=pkce_pair()[1], code_challenge_method="S256"
    ),
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
async def test_tampered_or_missing_csrf_token_is_refused(
    app_client: Client, make_user: Any, tamper: Any
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app, state="s")

    tamper(fields)
    response = await submit(app_client, fields)

    assert response.status == 400
    assert "Location" not in response.headers
    assert "expired or was altered" in await response.text()
    assert await count_rows(app_client, "oauth_codes") == 0


async def test_form_expires_after_an_hour(
    app_client: Client, make_user: Any, clock: FrozenClock
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    fields = await consent_form(app_client, app)

    clock.advance(minutes=61)
    response = await submit(app_client, fields)

    assert response.status == 400
    assert await count_rows(app_client, "oauth_codes") == 0


# -- exact redirect URIs (checklist 26) -------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/call",  # a prefix
        "https://app.example/callback/evil",  # an extension
        "https://app.example:8443/callback",  # another port
        "https://app.example/callback/",  # a trailing slash
        "https://APP.example/callback",  # another spelling
        "http://app.example/callback",  # another scheme
        "https://evil.example/callback",
        OOB,
    ],
)
async def test_redirect_uri_must_match_exactly(
    app_client: Client, make_user: Any, uri: str
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)

    page = await app_client.get(
        "/oauth/authorize", params=authorize_query(app, redirect_uri=uri), allow_redirects=False
    )
    assert page.status == 400
    assert "Location" not in page.headers
    assert "redirect URI" in await page.text()

    # The form cannot be pointed elsewhere either, even with a valid token for it.
    fields = await consent_form(app_client, app)
    response = await submit(app_client, {**fields, "redirect_uri": uri})
    assert response.status == 400
    assert "Location" not in response.headers
    assert await count_rows(app_client, "oauth_codes") == 0


async def test_unknown_client_is_an_error_page(app_client: Client) -> None:
    response = await app_client.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": "nope", "redirect_uri": CALLBACK},
        allow_redirects=False,
    )

    assert response.status == 400
    assert "Location" not in response.headers
    assert "unknown client_id" in await response.text()


async def test_scope_beyond_the_apps_is_invalid_scope(app_client: Client) -> None:
    app = await register_app(app_client, scopes="read", redirect_uris=CALLBACK)

    response = await app_client.get(
        "/oauth/authorize",
        params=authorize_query(app, scope="read write", state="s"),
        allow_redirects=False,
    )

    assert response.status == 302
    query = location_query(response)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "s"
    assert await count_rows(app_client, "oauth_codes") == 0


async def test_unknown_scope_on_oob_is_shown(app_client: Client) -> None:
    app = await register_app(app_client, scopes="read", redirect_uris=OOB)

    response = await app_client.get(
        "/oauth/authorize", params=authorize_query(app, scope="read:everything")
    )

    assert response.status == 400
    assert "invalid_scope" in await response.text()


async def test_only_response_type_code(app_client: Client) -> None:
    app = await register_app(app_client, redirect_uris=CALLBACK)

    response = await app_client.get(
        "/oauth/authorize", params=authorize_query(app, response_type="token"),
        allow_redirects=False,
    )  # fmt: skip

    assert response.status == 302
    assert location_query(response)["error"] == "unsupported_response_type"


async def test_granular_scopes_within_the_apps_are_granted(
    app_client: Client, make_user: Any
) -> None:
    await make_user("alice")
    app = await register_app(app_client, scopes="read write", redirect_uris=CALLBACK)

    code = await authorization_code(app_client, app, scope="read:statuses write:favourites")
    response = await exchange(app_client, app, code)

    assert (await response.json())["scope"] == "read:statuses write:favourites"


async def test_admin_scopes_need_an_admin(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    await make_user("root_user", is_admin=True)
    app = await register_app(app_client, scopes="read admin:read", redirect_uris=CALLBACK)

    fields = await consent_form(app_client, app, scope="admin:read")
    refused = await submit(app_client, fields)
    granted = await submit(app_client, fields, username="root_user")

    assert location_query(refused)["error"] == "invalid_scope"
    assert "code" in location_query(granted)


# -- PKCE -----------------------------------------------------------------------------


async def test_pkce_s256_public_client(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    verifier, challenge = pkce_pair()
    code = await authorization_code(
        app_client, app, code_challenge=challenge, code_challenge_method="S256"
    )

    # No client_secret: the verifier proves possession instead.
    response = await app_client.post(
        "/oauth/token",
        json={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "redirect_uri": CALLBACK,
            "code": code,
            "code_verifier": verifier,
        },
    )

    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    "verifier",
    [None, "wrong-verifier-" + "x" * 40, "short"],
    ids=["missing", "wrong", "malformed"],
)
async def test_pkce_wrong_or_missing_verifier_fails(
    app_client: Client, make_user: Any, verifier: str | None
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    _, challenge = pkce_pair()
    code = await authorization_code(
        app_client, app, code_challenge=challenge, code_challenge_method="S256"
    )

    extra = {} if verifier is None else {"code_verifier": verifier}
    response = await exchange(app_client, app, code, **extra)

    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"


async def test_pkce_verifier_without_a_challenge_fails(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    code = await authorization_code(app_client, app)

    response = await exchange(app_client, app, code, code_verifier=pkce_pair()[0])

    assert (await response.json())["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["plain", "", "s256"])
async def test_pkce_plain_is_refused(app_client: Client, method: str) -> None:
    """GoToSocial #4232: S256 only; no method means plain (RFC 7636), refused too."""
    app = await register_app(app_client, redirect_uris=CALLBACK)
    verifier, _ = pkce_pair()
    extra = {"code_challenge": verifier[:43]}
    if method:
        extra["code_challenge_method"] = method

    response = await app_client.get(
        "/oauth/authorize", params=authorize_query(app, **extra), allow_redirects=False
    )

    assert response.status == 302
    query = location_query(response)
    assert query["error"] == "invalid_request"
    assert "S256" in query["error_description"]


async def test_public_client_without_pkce_is_refused(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=CALLBACK)
    code = await authorization_code(app_client, app)

    response = await app_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "redirect_uri": CALLBACK,
            "code": code,
        },
    )

    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


# -- codes ----------------------------------------------------------------------------


async def test_code_used_twice_fails_the_second_time(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client)
    code = await authorization_code(app_client, app)

    first = await exchange(app_client, app, code)
    second = await exchange(app_client, app, code)

    assert first.status == 200
    assert second.status == 400
    assert await second.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code was already used",
    }


async def test_replaying_a_code_revokes_the_token_it_bought(
    app_client: Client, make_user: Any
) -> None:
    """RFC 6749 §10.5: a code used twice has leaked, so its first token stops working."""
    await make_user("alice")
    app = await register_app(app_client)
    code = await authorization_code(app_client, app)
    first = await exchange(app_client, app, code)
    token = (await first.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        await app_client.get("/api/v1/accounts/verify_credentials", headers=headers)
    ).status == 200

    replay = await exchange(app_client, app, code)

    assert replay.status == 400
    after = await app_client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert after.status == 401


async def test_expired_code_fails(app_client: Client, make_user: Any, clock: FrozenClock) -> None:
    await make_user("alice")
    app = await register_app(app_client)
    code = await authorization_code(app_client, app)

    clock.advance(minutes=11)
    response = await exchange(app_client, app, code)

    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"


async def test_code_is_bound_to_its_client_and_redirect_uri(
    app_client: Client, make_user: Any
) -> None:
    await make_user("alice")
    app = await register_app(app_client, redirect_uris=f"{CALLBACK} {OOB}")
    other = await register_app(app_client, redirect_uris=CALLBACK)

    code = await authorization_code(app_client, app)
    assert (await exchange(app_client, other, code)).status == 400
    code = await authorization_code(app_client, app)
    response = await exchange(app_client, app, code, redirect_uri=OOB)
    assert (await response.json())["error"] == "invalid_grant"
    assert (await exchange(app_client, app, "made-up-code")).status == 400


async def test_wrong_client_secret_is_invalid_client(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client)
    code = await authorization_code(app_client, app)

    response = await exchange(app_client, app, code, client_secret="wrong")

    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


# -- the token endpoint -------------------------------------------------------------------


async def test_token_request_as_json_with_junk_fields(app_client: Client, make_user: Any) -> None:
    """masto.js sends JSON; Mastodon.py adds `oauth_info` junk."""
    await make_user("alice")
    app = await register_app(app_client)
    code = await authorization_code(app_client, app)

    response = await exchange(
        app_client, app, code, as_json=True, oauth_info="{'issuer': 'x'}", scope="read"
    )

    assert response.status == 200
    assert (await response.json())["scope"] == MASTODON_PY_SCOPES


async def test_client_secret_basic(app_client: Client) -> None:
    app = await register_app(app_client)
    credentials = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode())

    response = await app_client.post(
        "/oauth/token/",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {credentials.decode()}"},
    )

    assert response.status == 200
    assert (await response.json())["scope"] == "read"


async def test_client_credentials_grant(app_client: Client) -> None:
    app = await register_app(app_client, scopes="read write")

    token = await app_token(app_client, app, "read write")
    response = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert response.status == 200
    row = await app_client.app[store_key].db.fetch_one("SELECT user_id FROM oauth_tokens")
    assert row is not None
    assert row["user_id"] is None

    response = await app_client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write follow",
        },
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_scope"
    response = await app_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"]},
    )
    assert response.status == 401


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "x"}, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
    ],
)
async def test_token_errors_use_mastodons_shape(
    app_client: Client, body: dict[str, str], error: str
) -> None:
    response = await app_client.post("/oauth/token", data=body)

    assert response.status == 400
    found = await response.json()
    assert found["error"] == error
    assert found["error_description"]


async def test_token_endpoint_with_invalid_json_is_invalid_request(app_client: Client) -> None:
    response = await app_client.post(
        "/oauth/token", data=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


# -- read token on a write endpoint (checklist 26) -----------------------------------------


async def test_read_token_on_a_write_endpoint_is_403(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client = await start_app(make_config(registrations={"mode": "open"}))
    app = await register_app(client, scopes="read write")
    read_token = await app_token(client, app, "read")

    response = await client.post(
        "/api/v1/accounts",
        headers=bearer(read_token),
        data={"username": "x", "email": "x@mail.example", "password": PASSWORD},
    )

    assert response.status == 403
    assert "outside the authorized scopes" in (await response.json())["error"]
    assert await count_rows(client, "users") == 0


async def write_statuses(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    return web.json_response({"username": user.username})


async def test_read_user_token_on_a_write_route_is_403(
    aiohttp_client: AiohttpClient, config: Config, clock: FrozenClock, resolver: FakeResolver
) -> None:
    """The same through `require_user`, with a throwaway write route added before start."""
    server = create_app(config, resolver=resolver, clock=clock)
    server.router.add_post("/api/v1/test-write", write_statuses)
    client = await aiohttp_client(server)
    await add_user(client, "alice")
    app = await register_app(client, scopes="read write")
    read_code = await authorization_code(client, app, scope="read")
    read_token = (await (await exchange(client, app, read_code)).json())["access_token"]
    write_token = await user_token(client, app)

    refused = await client.post("/api/v1/test-write", headers=bearer(read_token))
    allowed = await client.post("/api/v1/test-write", headers=bearer(write_token))
    anonymous = await client.post("/api/v1/test-write")

    assert refused.status == 403
    assert (await refused.json())["code"] == "forbidden"
    assert allowed.status == 200
    assert await allowed.json() == {"username": "alice"}
    assert anonymous.status == 401


# -- revocation ---------------------------------------------------------------------------


async def test_revoke(app_client: Client, make_user: Any) -> None:
    await make_user("alice")
    app = await register_app(app_client)
    other = await register_app(app_client)
    token = await user_token(app_client, app)
    form = {"client_id": app["client_id"], "client_secret": app["client_secret"], "token": token}

    # Another app cannot revoke it (answers 200 as RFC 7009 says, but nothing happens).
    response = await app_client.post(
        "/oauth/revoke",
        data={**form, "client_id": other["client_id"], "client_secret": other["client_secret"]},
    )
    assert response.status == 200
    check = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert check.status == 200
    # Nor a wrong secret.
    response = await app_client.post("/oauth/revoke", data={**form, "client_secret": "wrong"})
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"

    response = await app_client.post("/oauth/revoke", data=form)
    assert response.status == 200
    assert await response.json() == {}
    check = await app_client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert check.status == 401
    # Revoking again, or an unknown token, is still 200.
    assert (await app_client.post("/oauth/revoke", data=form)).status == 200


# -- the password grant and metadata --------------------------------------------------------


async def test_password_grant_off_by_default(app_client: Client, make_user: Any) -> None:
    await make_user("alice", email="alice@mail.example")
    app = await register_app(app_client)

    response = await app_client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "alice@mail.example",
            "password": PASSWORD,
        },
    )
    metadata = await (await app_client.get("/.well-known/oauth-authorization-server")).json()

    assert response.status == 400
    assert (await response.json())["error"] == "unsupported_grant_type"
    assert "password" not in metadata["grant_types_supported"]


async def test_password_grant_when_on(start_app: StartApp, make_config: MakeConfig) -> None:
    client = await start_app(make_config(api={"password_grant": True}))
    await add_user(client, "alice", email="alice@mail.example")
    await add_user(client, "pending", approved=False)
    app = await register_app(client)

    def body(username: str, password: str = PASSWORD, **extra: str) -> dict[str, str]:
        return {
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": username,
            "password": password,
            "scope": MASTODON_PY_SCOPES,
            **extra,
        }

    for username in ("alice@mail.example", "alice"):
        response = await client.post("/oauth/token", data=body(username))
        assert response.status == 200, await response.text()
        assert (await response.json())["scope"] == MASTODON_PY_SCOPES
    response = await client.post("/oauth/token", json=body("alice", oauth_info="junk"))
    assert response.status == 200

    for username, password in (("alice", "wrong password"), ("nobody", PASSWORD)):
        response = await client.post("/oauth/token", data=body(username, password))
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_grant"
    response = await client.post("/oauth/token", data=body("pending"))
    assert (await response.json())["error"] == "invalid_grant"
    response = await client.post("/oauth/token", data=body("alice", scope="admin:read"))
    assert (await response.json())["error"] == "invalid_scope"

    metadata = await (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "password" in metadata["grant_types_supported"]


async def test_authorization_server_metadata(app_client: Client) -> None:
    response = await app_client.get("/.well-known/oauth-authorization-server")

    assert response.status == 200
    metadata = await response.json()
    base = "http://local.test"
    assert metadata["issuer"] == f"{base}/"
    assert metadata["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert metadata["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert metadata["app_registration_endpoint"] == f"{base}/api/v1/apps"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"read", "write", "follow", "push"} <= set(metadata["scopes_supported"])
    assert "client_secret_post" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["service_documentation"].startswith("https://")


async def test_token_created_at_follows_the_clock(app_client: Client, clock: FrozenClock) -> None:
    app = await register_app(app_client)

    response = await app_client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )

    created = (await response.json())["created_at"]
    assert datetime.fromtimestamp(created, clock.now.tzinfo) == clock.now


async def test_a_token_stops_working_when_its_user_is_deleted_or_it_is_revoked(
    app_client: Client, make_user: Any, make_token: Any
) -> None:
    """The token and its user are read in one query (`OAuth.token_and_user`); each way a
    token can go bad still answers 401."""
    store = app_client.app[store_key]
    now = app_client.app[clock_key]()
    alice = await make_user("alice")
    bob = await make_user("bob")
    alice_token = await make_token(alice, "read")
    bob_token = await make_token(bob, "read")

    async def credentials(token: str) -> int:
        response = await app_client.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status == 200:
            assert (await response.json())["username"] in ("alice", "bob")
        return response.status

    assert await credentials(alice_token) == 200
    assert await credentials(bob_token) == 200
    assert await credentials("not-a-token") == 401
    await store.accounts.mark_deleted(alice.account.id, now)
    assert await credentials(alice_token) == 401
    assert await credentials(bob_token) == 200
    found = await store.oauth.token_and_user(bob_token)
    assert found is not None
    token, user = found
    assert user is not None
    assert user.account.id == bob.account.id
    assert token.user_id == bob.user.id
