"""CLI commands that act on the network: post, follow, unfollow, domain blocks.

They write to the database only (statuses, follows, delivery rows). A running server's
delivery worker picks up what they queued within a second; without a running server it
goes out at the next start. Remote accounts are looked up through WebFinger with the
guarded client, signed by the instance actor, exactly as the server does.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from actors.remote import RemoteActors
from actors.service import existing_user
from fedserver.app import fetch_policy, load_instance_actor
from fedserver.config import Config
from fedserver.db import AccountRow, Store
from fedserver.domains import DomainPolicy, normalise
from fedserver.errors import NotFound, UnprocessableEntity
from fedserver.http import HttpClient
from fedserver.ids import IdGenerator, utc_now
from fedserver.keypairs import LocalKeys
from fedserver.signing import make_signer
from fedserver.urls import LocalUrls
from outbox.service import VISIBILITIES, Outbox
from outbox.text import extract_mentions


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    post = commands.add_parser("post", help="publish a status as a local user")
    post.add_argument("user", help="the local username")
    post.add_argument("text", help="the status text (@user@host mentions and #tags work)")
    post.add_argument("--visibility", choices=VISIBILITIES, default="public")
    post.add_argument("--spoiler", default="", help="a content warning")
    for name, text in (("follow", "follow an account"), ("unfollow", "stop following")):
        command = commands.add_parser(name, help=f"{text} (user@host or an actor URL)")
        command.add_argument("user", help="the local username")
        command.add_argument("target", help="user@host, @user@host, or an actor URL")
    alias = commands.add_parser(
        "alias", help="declare another account as this user's former one (alsoKnownAs)"
    )
    alias.add_argument("user", help="the local username (the account moved to)")
    alias.add_argument("target", help="the old account: user@host or an actor URL")
    move = commands.add_parser(
        "move", help="move a user's followers to a new account (it must list this one as alias)"
    )
    move.add_argument("user", help="the local username (the account moving away)")
    move.add_argument("target", help="the new account: user@host or an actor URL")
    domain = commands.add_parser("domain", help="block or unblock whole domains").add_subparsers(
        dest="domain_command", required=True, metavar="ACTION"
    )
    block = domain.add_parser("block", help="refuse everything from a domain and its subdomains")
    block.add_argument("domain")
    block.add_argument("--reason", default="", help="a note for other operators")
    domain.add_parser("unblock", help="lift a block").add_argument("domain")
    domain.add_parser("list", help="list blocked domains (config.toml and stored)")


@dataclass
class Federation:
    store: Store
    actors: RemoteActors
    outbox: Outbox


@asynccontextmanager
async def federation(config: Config) -> AsyncIterator[Federation]:
    store = await Store.open(config.database.path)
    try:
        await store.migrate()
        new_id = IdGenerator()
        instance = await load_instance_actor(store, config, new_id, utc_now)
        async with HttpClient(fetch_policy(config)) as client:
            policy = DomainPolicy.build(
                config.federation.domain_policy,
                config.federation.blocked_domains,
                config.federation.allowed_domains,
            )
            policy.set_stored_blocks(d for d, _ in await store.domain_blocks.all())
            urls = LocalUrls(config.base_url)
            actors = RemoteActors(
                store,
                client,
                make_signer(instance.key_id, instance.keys.rsa, utc_now),
                urls=urls,
                policy=policy,
                new_id=new_id,
                clock=utc_now,
            )
            outbox = Outbox(
                store=store,
                urls=urls,
                local_keys=LocalKeys(store.accounts.keypairs),
                new_id=new_id,
                clock=utc_now,
                domain=config.domain,
                limits=config.limits,
                wake_delivery=lambda: None,  # the running server's worker polls
            )
            yield Federation(store, actors, outbox)
    finally:
        await store.close()


async def resolve(actors: RemoteActors, target: str) -> AccountRow:
    if target.startswith(("https://", "http://")):
        return await actors.get(target)
    return await actors.resolve_acct(target)


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(args, config))


async def _run(args: argparse.Namespace, config: Config) -> int:
    async with federation(config) as fed:
        if args.command == "domain":
            return await _domain(args, config, fed.store)
        author = (await existing_user(fed.store, args.user)).account
        if args.command == "post":
            mentions = []
            for acct in extract_mentions(args.text, config.domain):
                try:
                    mentions.append(await fed.actors.resolve_acct(acct))
                except (NotFound, UnprocessableEntity):
                    continue  # an unknown name stays plain text, as on Mastodon
            status = await fed.outbox.post(
                author,
                args.text,
                visibility=args.visibility,
                spoiler_text=args.spoiler,
                mentions=mentions,
            )
            uri = LocalUrls(config.base_url).status(author.username, status.id)
            print(f"posted {status.id}: {uri}")
            return 0
        target = await resolve(fed.actors, args.target)
        if args.command == "alias":
            uri = fed.outbox.uri_of(target)
            if uri not in author.also_known_as:
                await fed.store.accounts.update_profile(
                    author.id, also_known_as=[*author.also_known_as, uri], now=utc_now()
                )
            print(f"{args.user} is also known as {uri}")
            return 0
        if args.command == "move":
            # The target's own document must list us: refetch it from its origin.
            target = await fed.actors.get(fed.outbox.uri_of(target), refresh=True)
            await fed.outbox.move(author, target)
            print(f"{args.user} moved to {target.acct}; followers are told to follow it")
            return 0
        if args.command == "follow":
            state = await fed.outbox.follow(author, target)
            print(
                f"{args.user} follows {target.acct}"
                + (" (pending approval)" if state == "pending" else "")
            )
        else:
            await fed.outbox.unfollow(author, target)
            print(f"{args.user} no longer follows {target.acct}")
        return 0


async def _domain(args: argparse.Namespace, config: Config, store: Store) -> int:
    action = args.domain_command
    if action == "list":
        configured = config.federation.blocked_domains
        stored = await store.domain_blocks.all()
        if not configured and not stored:
            print("no blocked domains")
        for domain in configured:
            print(f"{domain}\t(config.toml)")
        for domain, reason in stored:
            print(f"{domain}\t{reason}".rstrip())
        if config.federation.domain_policy == "allowlist":
            print("allowlist mode: only " + ", ".join(config.federation.allowed_domains))
        return 0
    domain = normalise(args.domain)
    if not domain or "/" in domain or " " in domain:
        raise UnprocessableEntity(f"{args.domain!r} is not a domain")
    if action == "block":
        added = await store.domain_blocks.add(domain, args.reason, utc_now())
        print(f"blocked {domain}" if added else f"{domain} was already blocked")
    else:
        if not await store.domain_blocks.remove(domain):
            raise NotFound(f"{domain} is not blocked (blocks in config.toml are lifted there)")
        print(f"unblocked {domain}")
    return 0


def delete_user(config: Config, username: str) -> None:
    """`fedserver user delete NAME`: the account goes, and its followers are told."""

    async def run() -> None:
        async with federation(config) as fed:
            user = await existing_user(fed.store, username)
            await fed.outbox.delete_account(user.account)

    asyncio.run(run())
