"""Every URL of a local thing, built from `instance.base_url` (pure).

ActivityPub ids must never change, so they come from configuration, never from the
request's Host header. The shapes follow Mastodon's, which peers and people recognise.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class LocalUrls:
    base_url: str

    def actor(self, username: str) -> str:
        return f"{self.base_url}/users/{quote(username)}"

    def main_key(self, username: str) -> str:
        return self.actor(username) + "#main-key"

    def ed25519_key(self, username: str) -> str:
        return self.actor(username) + "#ed25519-key"

    def inbox(self, username: str) -> str:
        return self.actor(username) + "/inbox"

    def outbox(self, username: str) -> str:
        return self.actor(username) + "/outbox"

    def followers(self, username: str) -> str:
        return self.actor(username) + "/followers"

    def following(self, username: str) -> str:
        return self.actor(username) + "/following"

    def featured(self, username: str) -> str:
        return self.actor(username) + "/collections/featured"

    def profile_page(self, username: str) -> str:
        return f"{self.base_url}/@{quote(username)}"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.actor(username)}/statuses/{status_id}"

    def status_activity(self, username: str, status_id: int) -> str:
        return self.status(username, status_id) + "/activity"

    def status_page(self, username: str, status_id: int) -> str:
        return f"{self.profile_page(username)}/{status_id}"

    def shared_inbox(self) -> str:
        return f"{self.base_url}/inbox"

    def instance_actor(self) -> str:
        return f"{self.base_url}/actor"

    def instance_main_key(self) -> str:
        return self.instance_actor() + "#main-key"

    def instance_ed25519_key(self) -> str:
        return self.instance_actor() + "#ed25519-key"

    def account_uri(self, username: str, domain: str | None, uri: str | None) -> str:
        """The actor URI of any account row: derived for local ones, stored for remote."""
        if domain is None:
            return self.actor(username)
        if uri is None:
            raise ValueError(f"remote account {username}@{domain} has no uri")
        return uri
