"""The instance actor: the server itself as an `Application` actor at `/actor`.

It signs fetches made for the server rather than for a user (key lookups, actor and object
fetches), which peers with authorized fetch require (PEERS.md: GoToSocial and bovine answer
401 to unsigned GETs). Mastodon does the same with its `/actor`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedserver.keypairs import SigningKeys

INSTANCE_ACTOR_PATH = "/actor"


@dataclass(frozen=True)
class InstanceActor:
    uri: str
    key_id: str
    #: The username peers see (`acct:DOMAIN@DOMAIN`, as Mastodon's instance actor).
    username: str
    keys: SigningKeys


def instance_actor_uri(base_url: str) -> str:
    return base_url + INSTANCE_ACTOR_PATH
