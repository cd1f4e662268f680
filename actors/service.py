"""Creating, deleting and changing local users (shared by the CLI and, later, the API)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime

from fedserver.db import LocalUser, Store
from fedserver.errors import Conflict, NotFound, UnprocessableEntity
from fedserver.keypairs import generate_keypairs
from fedserver.passwords import hash_password

#: Mastodon's username rule: letters, digits and underscores, with dots and dashes
#: allowed inside (https://github.com/mastodon/mastodon: Account::USERNAME_RE).
USERNAME_RE = re.compile(r"^[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?$", re.IGNORECASE)
MAX_USERNAME_LENGTH = 30
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
# A pragmatic e-mail check: one @, no spaces, a dot in the domain. Mail delivery is the
# real test; this only catches typos and garbage.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def check_username(username: str, reserved: set[str]) -> None:
    if not USERNAME_RE.match(username):
        raise UnprocessableEntity(
            f"username {username!r} may contain only letters, digits and underscores "
            "(and dots or dashes inside)"
        )
    if len(username) > MAX_USERNAME_LENGTH:
        raise UnprocessableEntity(f"username is longer than {MAX_USERNAME_LENGTH} characters")
    if username.lower() in reserved:
        raise UnprocessableEntity(f"username {username!r} is reserved")


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UnprocessableEntity(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )


def check_email(email: str) -> None:
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise UnprocessableEntity(f"{email!r} is not an e-mail address")


async def create_user(
    store: Store,
    new_id: Callable[[], int],
    now: datetime,
    *,
    username: str,
    password: str,
    email: str | None,
    is_admin: bool,
    approved: bool,
    reserved: set[str],
) -> LocalUser:
    """Validate, hash, generate both key pairs, and store the user in one transaction."""
    check_username(username, reserved)
    check_password(password)
    if email is not None:
        check_email(email)
    if await store.accounts.local_user(username) is not None:
        raise Conflict(f"username {username!r} is already taken")
    # Hashing (scrypt) and RSA generation are CPU-bound: keep them off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password)
    keypairs = await asyncio.to_thread(generate_keypairs)
    return await store.accounts.create_local_user(
        account_id=new_id(),
        user_id=new_id(),
        username=username,
        email=email,
        password_hash=password_hash,
        is_admin=is_admin,
        approved=approved,
        keypairs=[(new_id(), k.kind, k.private_key_pem, k.public_key_pem) for k in keypairs],
        now=now,
    )


async def existing_user(store: Store, username: str) -> LocalUser:
    """A local user that exists and is not deleted; NotFound otherwise."""
    user = await store.accounts.local_user(username)
    if user is None or user.account.is_deleted:
        raise NotFound(f"no user named {username!r}")
    return user
