"""OAuth2 apps, authorization codes and access tokens. Secrets, codes and tokens are
stored as SHA-256 hashes: a copy of the database grants nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from fedserver.db.accounts import LOCAL_USER_COLUMNS, local_user_from_row
from fedserver.db.database import Database, Row
from fedserver.db.rows import LocalUser
from fedserver.ids import isoformat, parse_isoformat


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OAuthApp:
    id: int
    name: str
    website: str | None
    redirect_uris: tuple[str, ...]
    scopes: str
    client_id: str
    client_secret_hash: str
    created_at: datetime


@dataclass(frozen=True)
class OAuthCode:
    app_id: int
    user_id: int
    redirect_uri: str
    scopes: str
    code_challenge: str | None
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class OAuthToken:
    id: int
    app_id: int
    user_id: int | None
    scopes: str
    created_at: datetime
    revoked_at: datetime | None


def _app(row: Row) -> OAuthApp:
    return OAuthApp(
        id=row["id"],
        name=row["name"],
        website=row["website"],
        redirect_uris=tuple(json.loads(row["redirect_uris"])),
        scopes=row["scopes"],
        client_id=row["client_id"],
        client_secret_hash=row["client_secret_hash"],
        created_at=parse_isoformat(row["created_at"]),
    )


def _token(row: Row) -> OAuthToken:
    return OAuthToken(
        id=row["id"],
        app_id=row["app_id"],
        user_id=row["user_id"],
        scopes=row["scopes"],
        created_at=parse_isoformat(row["created_at"]),
        revoked_at=None if row["revoked_at"] is None else parse_isoformat(row["revoked_at"]),
    )


class OAuth:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_app(
        self,
        *,
        app_id: int,
        name: str,
        website: str | None,
        redirect_uris: list[str],
        scopes: str,
        client_id: str,
        client_secret: str,
        now: datetime,
    ) -> OAuthApp:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO oauth_apps (id, name, website, redirect_uris, scopes, client_id,"
                " client_secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    app_id,
                    name,
                    website,
                    json.dumps(redirect_uris),
                    scopes,
                    client_id,
                    secret_hash(client_secret),
                    isoformat(now),
                ),
            )
        app = await self.app_by_client_id(client_id)
        assert app is not None
        return app

    async def app_by_client_id(self, client_id: str) -> OAuthApp | None:
        row = await self._db.fetch_one("SELECT * FROM oauth_apps WHERE client_id = ?", (client_id,))
        return None if row is None else _app(row)

    async def app_by_id(self, app_id: int) -> OAuthApp | None:
        row = await self._db.fetch_one("SELECT * FROM oauth_apps WHERE id = ?", (app_id,))
        return None if row is None else _app(row)

    async def create_code(
        self,
        *,
        code: str,
        app_id: int,
        user_id: int,
        redirect_uri: str,
        scopes: str,
        code_challenge: str | None,
        expires_at: datetime,
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO oauth_codes (code_hash, app_id, user_id, redirect_uri, scopes,"
                " code_challenge, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    secret_hash(code),
                    app_id,
                    user_id,
                    redirect_uri,
                    scopes,
                    code_challenge,
                    isoformat(expires_at),
                ),
            )

    async def consume_code(self, code: str, now: datetime) -> OAuthCode | None:
        """Mark a code used and return it as it was; None if unknown. A code returned
        with `used_at` set was already used (the caller must refuse it)."""
        code_hash = secret_hash(code)
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM oauth_codes WHERE code_hash = ?", (code_hash,))
            if row is None:
                return None
            await tx.execute(
                "UPDATE oauth_codes SET used_at = coalesce(used_at, ?) WHERE code_hash = ?",
                (isoformat(now), code_hash),
            )
        return OAuthCode(
            app_id=row["app_id"],
            user_id=row["user_id"],
            redirect_uri=row["redirect_uri"],
            scopes=row["scopes"],
            code_challenge=row["code_challenge"],
            expires_at=parse_isoformat(row["expires_at"]),
            used_at=None if row["used_at"] is None else parse_isoformat(row["used_at"]),
        )

    async def create_token(
        self,
        *,
        token_id: int,
        token: str,
        app_id: int,
        user_id: int | None,
        scopes: str,
        now: datetime,
        code: str | None = None,
    ) -> OAuthToken:
        """Store a token; `code` is the authorization code it was issued for, if any."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO oauth_tokens (id, token_hash, app_id, user_id, scopes, created_at,"
                " code_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    secret_hash(token),
                    app_id,
                    user_id,
                    scopes,
                    isoformat(now),
                    None if code is None else secret_hash(code),
                ),
            )
        found = await self.token(token)
        assert found is not None
        return found

    async def token(self, token: str) -> OAuthToken | None:
        """A token that exists and was not revoked."""
        row = await self._db.fetch_one(
            "SELECT * FROM oauth_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (secret_hash(token),),
        )
        return None if row is None else _token(row)

    async def token_and_user(self, token: str) -> tuple[OAuthToken, LocalUser | None] | None:
        """`token` and its user in one query (every authenticated API request asks for
        both): None when the token is unknown or revoked; the user is None for an app's
        own token, and also when the token's user is gone (the caller refuses that)."""
        row = await self._db.fetch_one(
            f"""
            SELECT t.id AS token_id, t.app_id AS token_app_id, t.user_id AS token_user_id,
                   t.scopes AS token_scopes, t.created_at AS token_created_at,
                   t.revoked_at AS token_revoked_at, {LOCAL_USER_COLUMNS}
            FROM oauth_tokens t
              LEFT JOIN users u ON u.id = t.user_id
              LEFT JOIN accounts a ON a.id = u.account_id
            WHERE t.token_hash = ? AND t.revoked_at IS NULL
            """,
            (secret_hash(token),),
        )
        if row is None:
            return None
        found = OAuthToken(
            id=row["token_id"],
            app_id=row["token_app_id"],
            user_id=row["token_user_id"],
            scopes=row["token_scopes"],
            created_at=parse_isoformat(row["token_created_at"]),
            revoked_at=None,
        )
        user = None if row["user_id"] is None or row["id"] is None else local_user_from_row(row)
        return found, user

    async def revoke_token(self, token: str, app_id: int, now: datetime) -> bool:
        async with self._db.transaction() as tx:
            return (
                await tx.execute(
                    "UPDATE oauth_tokens SET revoked_at = ? WHERE token_hash = ? AND app_id = ?"
                    " AND revoked_at IS NULL",
                    (isoformat(now), secret_hash(token), app_id),
                )
                > 0
            )

    async def revoke_tokens_of_code(self, code: str, now: datetime) -> int:
        """Revoke every token issued for an authorization code (it was replayed)."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                "UPDATE oauth_tokens SET revoked_at = ? WHERE code_hash = ? AND revoked_at IS NULL",
                (isoformat(now), secret_hash(code)),
            )

    async def revoke_user_tokens(self, user_id: int, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE oauth_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (isoformat(now), user_id),
            )
