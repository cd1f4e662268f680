"""Signing in with a password (the authorize page and the password grant): finding the
local user, checking the password with the same work whether or not the account exists, and
the key sign-in attempts are counted under."""

from __future__ import annotations

import asyncio

from fedserver.config import Config
from fedserver.db import LocalUser, Store
from fedserver.passwords import check_password

#: A well-formed hash nobody's password matches: checked when the account does not exist,
#: so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = "scrypt$15$8$1$ZmVkc2VydmVyLWR1bW15IQ==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


async def _find_user(store: Store, config: Config, identifier: str) -> LocalUser | None:
    """A local user by e-mail, username, `@username` or `username@our.domain`."""
    name = identifier.strip().removeprefix("@")
    if not name:
        return None
    if "@" in name:
        user = await store.accounts.local_user_by_email(name)
        if user is not None:
            return user
        name, _, domain = name.rpartition("@")
        if domain.lower() not in (config.domain.lower(), config.instance.host.lower()):
            return None
    return await store.accounts.local_user(name) if name else None


async def _password_ok(user: LocalUser | None, password: str) -> bool:
    """Constant work whether or not the account exists; deleted accounts never sign in."""
    usable = user is not None and not user.account.is_deleted
    stored = user.user.password_hash if user is not None and usable else _DUMMY_HASH
    matches = await asyncio.to_thread(check_password, password[:1024], stored)
    return matches and usable


def _sign_in_key(user: LocalUser | None, identifier: str) -> str:
    return f"user:{user.user.id}" if user is not None else f"name:{identifier.strip().lower()}"
