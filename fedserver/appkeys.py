"""Every typed application key, in one place ("appkeys": an AP server is full of crypto keys).

Keys are set only by `fedserver.app.create_app` and its cleanup contexts; handlers read
`request.app[store_key]` and mypy knows the type. See aiohttp's "Data Sharing aka No
Singletons Please".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from fedserver.config import Config
from fedserver.db import Store
from fedserver.domains import DomainPolicy
from fedserver.http import HttpClient
from fedserver.ids import Clock, IdGenerator
from fedserver.instance_actor import InstanceActor
from fedserver.keypairs import LocalKeys
from fedserver.keyresolver import KeyResolver
from fedserver.localactors import LocalActors
from fedserver.retention import Pruner
from fedserver.templates import Templates

if TYPE_CHECKING:  # these live in feature packages; the core only names their types
    from actors.remote import RemoteActors
    from inbox.worker import InboxWorker
    from outbox.service import Outbox
    from outbox.worker import DeliveryWorker

config_key = web.AppKey("config", Config)
store_key = web.AppKey("store", Store)
http_client_key = web.AppKey("http_client", HttpClient)
templates_key = web.AppKey("templates", Templates)
clock_key: web.AppKey[Clock] = web.AppKey("clock")
ids_key = web.AppKey("ids", IdGenerator)
instance_actor_key = web.AppKey("instance_actor", InstanceActor)
key_resolver_key = web.AppKey("key_resolver", KeyResolver)
domain_policy_key = web.AppKey("domain_policy", DomainPolicy)
delivery_worker_key: web.AppKey[DeliveryWorker] = web.AppKey("delivery_worker")
local_keys_key = web.AppKey("local_keys", LocalKeys)
local_actors_key = web.AppKey("local_actors", LocalActors)
remote_actors_key: web.AppKey[RemoteActors] = web.AppKey("remote_actors")
inbox_worker_key: web.AppKey[InboxWorker] = web.AppKey("inbox_worker")
outbox_key: web.AppKey[Outbox] = web.AppKey("outbox")
retention_key = web.AppKey("retention", Pruner)
