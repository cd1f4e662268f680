"""The application factory: the one place where the packages are put together.

A request flows: trusted-proxy middleware (when configured) → error middleware → a
handler from one feature package's route table → the store and/or pure builders →
a JSON, activity+json or HTML response. Resources (database, HTTP client, instance actor
keys) are opened and closed by cleanup contexts, in the order they are appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.typedefs import Middleware

import actors.views
import inbox.views
import outbox.objects
import outbox.views
import outbox.worker
import webfinger.views
from actors.remote import RemoteActors
from fedserver import __version__, pages
from fedserver.api.cors import cors_middleware
from fedserver.api.ratelimit import rate_limit_middleware
from fedserver.api.setup import add_api
from fedserver.api.statuses import IDEMPOTENCY_WINDOW
from fedserver.appkeys import (
    clock_key,
    config_key,
    delivery_worker_key,
    domain_policy_key,
    http_client_key,
    ids_key,
    inbox_worker_key,
    instance_actor_key,
    key_resolver_key,
    local_actors_key,
    local_keys_key,
    outbox_key,
    remote_actors_key,
    retention_key,
    store_key,
    templates_key,
)
from fedserver.config import Config
from fedserver.db import RetentionPolicy, Store
from fedserver.domains import DomainPolicy
from fedserver.http import FetchPolicy, http_ctx
from fedserver.ids import Clock, IdGenerator, utc_now
from fedserver.instance_actor import InstanceActor
from fedserver.keypairs import LocalKeys, generate_keypairs, signing_keys_from
from fedserver.keyresolver import KeyResolver
from fedserver.localactors import LocalActors
from fedserver.middleware import error_middleware, trusted_proxy_middleware
from fedserver.retention import Pruner
from fedserver.signing import make_signer
from fedserver.urls import LocalUrls
from inbox.context import FetchBudget, InboxContext
from inbox.worker import InboxWorker
from outbox.service import Outbox

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    resolver: AbstractResolver | None = None,
    clock: Clock = utc_now,
) -> web.Application:
    """Build the server. `resolver` (tests: a fake DNS) goes to the guarded HTTP client;
    `clock` is the only source of the current time."""
    # CORS outside the error middleware, so error responses carry its headers too.
    middlewares: list[Middleware] = [cors_middleware, rate_limit_middleware, error_middleware]
    if config.server.trusted_proxies:
        middlewares.insert(0, trusted_proxy_middleware(config.server.trusted_proxies))
    app = web.Application(middlewares=middlewares, client_max_size=config.limits.max_body_bytes)
    app[config_key] = config
    app[clock_key] = clock
    app[ids_key] = IdGenerator(clock)
    app[templates_key] = pages.create_templates()
    federation = config.federation
    app[domain_policy_key] = DomainPolicy.build(
        federation.domain_policy, federation.blocked_domains, federation.allowed_domains
    )

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(instance_actor_ctx)
    app.cleanup_ctx.append(http_ctx(fetch_policy(config), http_client_key, resolver))
    app.cleanup_ctx.append(key_resolver_ctx)
    app.cleanup_ctx.append(federation_ctx)
    app.cleanup_ctx.append(outbox.worker.delivery_worker_ctx)
    app.cleanup_ctx.append(retention_ctx)

    app.add_routes(pages.routes)
    app.add_routes(webfinger.views.routes)
    app.add_routes(actors.views.routes)
    app.add_routes(outbox.views.routes)
    app.add_routes(outbox.objects.routes)
    app.add_routes(inbox.views.routes)
    add_api(app)
    app.router.add_static("/static", pages.STATIC_DIR, name="static")
    app.on_response_prepare.append(_security_headers)
    return app


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """No response may be sniffed into another type: a file must never be taken for an
    ActivityStreams document or a page (SECURITY.md R10, checklist 23)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def fetch_policy(config: Config) -> FetchPolicy:
    federation = config.federation
    return FetchPolicy(
        allow_http=federation.allow_http,
        allow_private_addresses=federation.allow_private_addresses,
        timeout_seconds=federation.fetch_timeout_seconds,
        max_document_bytes=federation.max_fetched_document_bytes,
        user_agent=f"fedserver/{__version__} (+{config.base_url}/)",
    )


def retention_policy(config: Config) -> RetentionPolicy:
    """`[retention]` as the data layer takes it (0 days: kept forever)."""
    retention = config.retention

    def days(count: int) -> timedelta | None:
        return timedelta(days=count) if count else None

    return RetentionPolicy(
        delivered=days(retention.delivered_days),
        failed=days(retention.failed_days),
        inbox_processed=days(retention.inbox_processed_days),
        inbox_dead=days(retention.inbox_dead_days),
        oauth_codes=days(retention.oauth_codes_days),
        # Past its window a key answers nothing: not worth a setting.
        idempotency_keys=IDEMPOTENCY_WINDOW,
        batch_size=retention.batch_size,
    )


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Prune finished queue rows every `retention.interval_minutes` (0: never here)."""
    pruner = Pruner(app[store_key], retention_policy(app[config_key]), app[clock_key])
    app[retention_key] = pruner
    interval = app[config_key].retention.interval_minutes * 60
    if not interval:
        yield
        return
    task = asyncio.create_task(pruner.run_forever(interval), name="retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database and apply pending migrations before serving."""
    store = await Store.open(app[config_key].database.path)
    try:
        await store.migrate()
        app[store_key] = store
        app[local_actors_key] = LocalActors(store.accounts)
        yield
    finally:
        await store.close()


async def instance_actor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the instance actor's keys, generating them on the very first start."""
    app[instance_actor_key] = await load_instance_actor(
        app[store_key], app[config_key], app[ids_key], app[clock_key]
    )
    yield


async def load_instance_actor(
    store: Store, config: Config, new_id: IdGenerator, clock: Clock
) -> InstanceActor:
    rows = await store.accounts.keypairs(None)
    if not rows:
        generated = await asyncio.to_thread(generate_keypairs)
        await store.accounts.add_instance_keypairs(
            [(new_id(), k.kind, k.private_key_pem, k.public_key_pem) for k in generated],
            clock(),
        )
        rows = await store.accounts.keypairs(None)
    urls = LocalUrls(config.base_url)
    return InstanceActor(
        uri=urls.instance_actor(),
        key_id=urls.instance_main_key(),
        username=config.instance.host,
        keys=signing_keys_from(rows),
    )


async def key_resolver_ctx(app: web.Application) -> AsyncIterator[None]:
    """Remote keys, fetched with the instance actor's signature and cached."""
    actor = app[instance_actor_key]
    signer = make_signer(actor.key_id, actor.keys.rsa, app[clock_key])
    app[key_resolver_key] = KeyResolver(
        app[http_client_key], signer, is_blocked=app[domain_policy_key].is_url_blocked
    )
    yield


async def federation_ctx(app: web.Application) -> AsyncIterator[None]:
    """Remote actors, local signing keys, and the inbox worker running in the background."""
    config = app[config_key]
    store = app[store_key]
    urls = LocalUrls(config.base_url)
    actor = app[instance_actor_key]
    signer = make_signer(actor.key_id, actor.keys.rsa, app[clock_key])
    local_keys = LocalKeys(store.accounts.keypairs)
    remote_actors = RemoteActors(
        store,
        app[http_client_key],
        signer,
        urls=urls,
        policy=app[domain_policy_key],
        new_id=app[ids_key],
        clock=app[clock_key],
    )
    app[local_keys_key] = local_keys
    app[remote_actors_key] = remote_actors

    def make_context(now: datetime) -> InboxContext:
        return InboxContext(
            store=store,
            actors=remote_actors,
            client=app[http_client_key],
            instance_signer=signer,
            local_keys=local_keys,
            urls=urls,
            config=config,
            now=now,
            new_id=app[ids_key],
            budget=FetchBudget(),
        )

    def wake_delivery() -> None:
        # The delivery worker's context comes after this one; until it runs, nothing
        # needs waking (its first poll picks the rows up).
        if delivery_worker_key in app:
            app[delivery_worker_key].wake()

    app[outbox_key] = Outbox(
        store=store,
        urls=urls,
        local_keys=local_keys,
        new_id=app[ids_key],
        clock=app[clock_key],
        domain=config.domain,
        limits=config.limits,
        wake_delivery=wake_delivery,
        account_changed=app[local_actors_key].invalidate,
    )
    policy = app[domain_policy_key]
    policy.set_stored_blocks(domain for domain, _ in await store.domain_blocks.all())
    worker = InboxWorker(store, make_context, policy, app[clock_key])
    app[inbox_worker_key] = worker
    tasks = [
        asyncio.create_task(worker.run_forever(), name="inbox worker"),
        asyncio.create_task(_reload_domain_blocks(store, policy), name="domain blocks"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


DOMAIN_BLOCK_RELOAD_SECONDS = 5.0


async def _reload_domain_blocks(store: Store, policy: DomainPolicy) -> None:
    """Pick up `fedserver domain block|unblock` made while the server runs."""
    while True:
        await asyncio.sleep(DOMAIN_BLOCK_RELOAD_SECONDS)
        try:
            policy.set_stored_blocks(domain for domain, _ in await store.domain_blocks.all())
        except Exception:
            log.exception("reloading domain blocks failed; keeping the previous list")
