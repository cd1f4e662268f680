"""The CLI commands that act on the network (post, domain blocks, user delete, approve,
reports), through `main([...])` on real files; they only write to the database, and the
server's workers do the sending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from fedserver.cli import main
from fedserver.config import load_config
from fedserver.db import Store

T = TypeVar("T")

CONFIG = """\
[instance]
domain = "cli.test"
base_url = "http://cli.test"

[database]
path = "cli.sqlite3"
"""


@pytest.fixture(autouse=True)
def no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEDSERVER_CONFIG", raising=False)


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    config = tmp_path / "fedserver.toml"
    config.write_text(CONFIG)

    def call(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def query(tmp_path: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await Store.open(load_config(tmp_path / "fedserver.toml").database.path)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_post_stores_a_status_with_links(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    assert run("user", "create", "alice", "--password", "long enough pw")[0] == 0
    code, out, err = run("post", "alice", "hello #world", "--visibility", "unlisted")
    assert code == 0, err
    assert out.startswith("posted ")
    statuses = query(tmp_path, lambda s: s.db.fetch_all("SELECT content, visibility FROM statuses"))
    assert [(r[1]) for r in statuses] == ["unlisted"]
    assert 'class="mention hashtag"' in statuses[0][0]


def test_post_by_unknown_user_fails_cleanly(run: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = run("post", "nobody", "hi")
    assert code == 2
    assert "no user named 'nobody'" in err


def test_domain_block_list_unblock(run: Callable[..., tuple[int, str, str]]) -> None:
    assert run("domain", "block", "Spam.Example", "--reason", "spam")[1] == "blocked spam.example\n"
    assert run("domain", "block", "spam.example")[1] == "spam.example was already blocked\n"
    assert run("domain", "list")[1] == "spam.example\tspam\n"
    assert run("domain", "unblock", "spam.example")[1] == "unblocked spam.example\n"
    code, _, err = run("domain", "unblock", "spam.example")
    assert code == 2
    assert "is not blocked" in err
    assert run("domain", "list")[1] == "no blocked domains\n"


def test_user_delete_queues_a_delete_of_the_actor_for_followers(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    assert run("user", "create", "alice", "--password", "long enough pw")[0] == 0

    async def add_remote_follower(store: Store) -> None:
        async with store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO accounts (id, username, domain, uri, inbox_url, shared_inbox_url,"
                " created_at, updated_at) VALUES (7, 'bob', 'remote.test',"
                " 'https://remote.test/users/bob', 'https://remote.test/users/bob/inbox',"
                " 'https://remote.test/inbox', 'now', 'now')"
            )
            await tx.execute(
                "INSERT INTO follows (id, account_id, target_account_id, state, created_at)"
                " SELECT 8, 7, id, 'accepted', 'now' FROM accounts WHERE username = 'alice'"
            )

    query(tmp_path, add_remote_follower)
    assert run("user", "delete", "alice") == (0, "deleted alice\n", "")
    rows = query(
        tmp_path,
        lambda s: s.db.fetch_all(
            "SELECT o.body, d.inbox_url FROM deliveries d"
            " JOIN outgoing_activities o ON o.id = d.outgoing_activity_id"
        ),
    )
    assert [r[1] for r in rows] == ["https://remote.test/inbox"]
    activity = json.loads(rows[0][0])
    assert activity["type"] == "Delete"
    assert activity["object"] == activity["actor"] == "http://cli.test/users/alice"
    assert activity["proof"]["type"] == "DataIntegrityProof"
    _, out, _ = run("user", "list")
    assert "deleted" in out


def test_approve_and_reports(run: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    assert run("user", "create", "alice", "--password", "long enough pw")[0] == 0

    async def unapprove(store: Store) -> None:
        async with store.db.transaction() as tx:
            await tx.execute("UPDATE users SET approved = 0")

    query(tmp_path, unapprove)
    assert "awaiting approval" in run("user", "list")[1]
    assert run("user", "approve", "alice") == (0, "approved alice\n", "")
    assert "awaiting approval" not in run("user", "list")[1]
    assert run("reports") == (0, "no open reports\n", "")


def test_alias_then_move_between_local_accounts(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    for name in ("alice", "alice2"):
        assert run("user", "create", name, "--password", "long enough pw")[0] == 0
    code, _, err = run("move", "alice", "alice2@cli.test")
    assert code == 2
    assert "does not list" in err
    assert run("alias", "alice2", "alice@cli.test") == (
        0,
        "alice2 is also known as http://cli.test/users/alice\n",
        "",
    )
    code, out, err = run("move", "alice", "alice2@cli.test")
    assert code == 0, err
    assert "moved to alice2" in out
    moved = query(
        tmp_path,
        lambda s: s.db.fetch_value("SELECT moved_to_uri FROM accounts WHERE username = 'alice'"),
    )
    assert moved == "http://cli.test/users/alice2"
