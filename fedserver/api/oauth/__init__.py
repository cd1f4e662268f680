"""OAuth2 for the client API, as Mastodon clients expect it (../shared/CLIENTS.md).

- `POST /api/v1/apps` registers an app; `GET /api/v1/apps/verify_credentials` shows it.
- `GET|POST /oauth/authorize`: the authorization-code flow on one server-rendered page
  (sign-in and consent in one POST, no JavaScript, no cookies), PKCE with S256 only
  (GoToSocial #4232), and the out-of-band URI `urn:ietf:wg:oauth:2.0:oob`.
- `POST /oauth/token`: `authorization_code`, `client_credentials`, and `password` only when
  `[api] password_grant` is on (Mastodon 4.4 removed it; scripts still use it).
- `POST /oauth/revoke`, and RFC 8414 metadata at `/.well-known/oauth-authorization-server`.

SECURITY.md R11: `redirect_uri` must be exactly one of the app's (otherwise an error page,
never a redirect: CVE-2026-33868); `javascript:`, `data:` and `vbscript:` redirect URIs are
refused at registration; requested scopes must be covered by the app's (`invalid_scope`),
and admin scopes need an admin (Akkoma 2023.02); codes are stored hashed, single use, and
expire after 10 minutes.

The package, by job: `apps.py` (registration), `authorize.py` (the authorize page) with
`form.py` (its hidden fields and CSRF token), `tokens.py` (grants, client authentication,
revocation, metadata); shared by those: `signin.py` (password sign-in), `common.py` (scopes,
redirect URI limits) and `errors.py` (OAuth error responses).
"""

from __future__ import annotations

from aiohttp import web

from fedserver.api.oauth import apps, authorize, tokens

routes: list[web.AbstractRouteDef] = [*apps.routes, *authorize.routes, *tokens.routes]
