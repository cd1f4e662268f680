"""The `fedserver` command through `main([...])` on real config files and databases.

The CLI runs its own event loop (`asyncio.run`), so these tests are plain sync tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.log import access_logger

import fedserver.migrations
from fedserver.accesslog import AccessLog
from fedserver.cli import main
from fedserver.config import load_config
from fedserver.db import LocalUser, Store
from fedserver.passwords import check_password

VALID = """\
[instance]
domain = "cli.test"
base_url = "http://cli.test"

[database]
path = "data/cli.sqlite3"
"""

PASSWORD = "correct horse battery"
MIGRATIONS_DIR = Path(fedserver.migrations.__file__).parent


@pytest.fixture(autouse=True)
def no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own $FEDSERVER_CONFIG must not leak into these tests."""
    monkeypatch.delenv("FEDSERVER_CONFIG", raising=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "fedserver.toml"
    path.write_text(VALID)
    return path


class Cli:
    """Runs `fedserver --config <file> ...` and keeps what it printed."""

    def __init__(self, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config_file = config_file
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(self.config_file), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def create(self, name: str, *options: str) -> None:
        code, _, err = self("user", "create", name, "--password", PASSWORD, *options)
        assert code == 0, err

    def listing(self) -> dict[str, list[str]]:
        """`user list` as {name: [email, flags]}."""
        code, out, _ = self("user", "list")
        assert code == 0
        if out.startswith("no users yet"):
            return {}
        users = {}
        for line in out.splitlines():
            name, *rest = line.split("\t")
            users[name] = rest
        return users


@pytest.fixture
def cli(config_file: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(config_file, capsys)


def stored_user(config_file: Path, name: str) -> LocalUser | None:
    """Read a user straight from the database the CLI wrote."""

    async def read() -> LocalUser | None:
        store = await Store.open(load_config(config_file).database.path)
        try:
            return await store.accounts.local_user(name)
        finally:
            await store.close()

    return asyncio.run(read())


# -- check-config ------------------------------------------------------------------------


def test_check_config_accepts_a_valid_file(cli: Cli, config_file: Path) -> None:
    code, out, err = cli("check-config")
    assert code == 0
    assert err == ""
    assert out.startswith(f"{config_file}: OK (http://cli.test, database ")
    assert str(config_file.parent / "data" / "cli.sqlite3") in out


def test_check_config_names_a_misspelt_key(cli: Cli, config_file: Path) -> None:
    config_file.write_text(VALID.replace("domain =", "domian ="))

    code, out, err = cli("check-config")

    assert code == 2
    assert out == ""
    assert err.splitlines()[0] == f"fedserver: invalid config {config_file}:"
    assert "  - instance.domian: unknown key" in err.splitlines()
    assert "Traceback" not in err


def test_check_config_prints_every_problem(cli: Cli, config_file: Path) -> None:
    config_file.write_text(
        VALID.replace("domain =", "domian =")
        + '\n[server]\nport = "80"\n\n[registrations]\nmode = "maybe"\n'
    )

    code, _, err = cli("check-config")

    assert code == 2
    problems = [line.removeprefix("  - ") for line in err.splitlines()[1:]]
    assert set(problems) == {
        "instance.domain: required",
        "instance.domian: unknown key",
        "server.port: expected an integer, got str '80'",
        "registrations.mode: must be one of 'open', 'approval', 'closed'",
    }


def test_missing_config_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.toml"

    assert main(["--config", str(missing), "check-config"]) == 2

    err = capsys.readouterr().err
    assert f"invalid config {missing}" in err
    assert "cannot read file: No such file or directory" in err
    assert "Traceback" not in err


def test_config_comes_from_the_environment_without_config_option(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEDSERVER_CONFIG", str(config_file))

    assert main(["check-config"]) == 0

    assert capsys.readouterr().out.startswith(f"{config_file}: OK")


def test_config_option_beats_the_environment(
    config_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FEDSERVER_CONFIG", str(tmp_path / "absent.toml"))

    assert main(["--config", str(config_file), "check-config"]) == 0

    assert capsys.readouterr().out.startswith(f"{config_file}: OK")


def test_config_toml_in_the_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text(VALID)
    monkeypatch.chdir(tmp_path)

    assert main(["check-config"]) == 0

    assert capsys.readouterr().out.startswith("config.toml: OK")


def test_missing_tls_files_are_named(cli: Cli, config_file: Path) -> None:
    (config_file.parent / "key.pem").write_text("not really a key")
    config_file.write_text(
        VALID + '\n[server]\ntls_certificate = "cert.pem"\ntls_key = "key.pem"\n'
    )

    code, _, err = cli("check-config")

    assert code == 2
    problems = err.splitlines()[1:]
    assert problems == [
        f"  - server.tls_certificate: no such file {str(config_file.parent / 'cert.pem')!r}"
    ]


# -- migrate -------------------------------------------------------------------------------


def test_migrate_applies_then_reports_up_to_date(cli: Cli, config_file: Path) -> None:
    code, out, _ = cli("migrate")
    assert code == 0
    migrations = sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    assert migrations[0] == "0001_initial.sql"
    assert out == "applied " + ", ".join(migrations) + "\n"
    assert (config_file.parent / "data" / "cli.sqlite3").is_file()

    code, out, _ = cli("migrate")
    assert code == 0
    assert out == "database is up to date\n"


# -- users -----------------------------------------------------------------------------------


def test_user_list_without_users_says_how_to_create_one(cli: Cli) -> None:
    code, out, _ = cli("user", "list")
    assert code == 0
    assert "fedserver user create NAME" in out


def test_user_create_and_list(cli: Cli, config_file: Path) -> None:
    code, out, err = cli(
        "user", "create", "alice", "--password", PASSWORD, "--email", "alice@example.com", "--admin"
    )

    assert code == 0, err
    assert out.splitlines() == [
        "created @alice@cli.test (admin)",
        "profile: http://cli.test/@alice",
    ]
    assert PASSWORD not in out
    cli.create("bob")
    assert cli.listing() == {
        "alice": ["alice@example.com", "admin"],
        "bob": ["-"],
    }
    alice = stored_user(config_file, "alice")
    assert alice is not None
    assert check_password(PASSWORD, alice.user.password_hash)


def test_user_create_without_password_prints_a_working_one(cli: Cli, config_file: Path) -> None:
    code, out, _ = cli("user", "create", "carol")

    assert code == 0
    [password_line] = [line for line in out.splitlines() if line.startswith("password: ")]
    password = password_line.removeprefix("password: ")
    assert len(password) >= 12
    carol = stored_user(config_file, "carol")
    assert carol is not None
    assert check_password(password, carol.user.password_hash)
    assert not check_password(password + "x", carol.user.password_hash)


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice"])
def test_a_taken_name_is_refused_whatever_its_case(cli: Cli, name: str) -> None:
    cli.create("alice")

    code, out, err = cli("user", "create", name, "--password", PASSWORD)

    assert code == 2
    assert out == ""
    assert err.startswith("fedserver: ")
    assert "already taken" in err
    assert list(cli.listing()) == ["alice"]


@pytest.mark.parametrize("name", ["bad name", "a/b", ".alice", "alice-", "é", "a" * 31, ""])
def test_invalid_usernames_are_refused(cli: Cli, name: str) -> None:
    code, _, err = cli("user", "create", name, "--password", PASSWORD)
    assert code == 2
    assert err.startswith("fedserver: ")
    assert "Traceback" not in err


def test_the_instance_actors_name_is_reserved(cli: Cli) -> None:
    code, _, err = cli("user", "create", "cli.test", "--password", PASSWORD)
    assert code == 2
    assert "reserved" in err


def test_short_password_is_refused(cli: Cli) -> None:
    code, _, err = cli("user", "create", "alice", "--password", "short")
    assert code == 2
    assert "password must be 8 to" in err
    assert cli.listing() == {}


def test_invalid_email_is_refused(cli: Cli) -> None:
    code, _, err = cli("user", "create", "alice", "--password", PASSWORD, "--email", "nope")
    assert code == 2
    assert "is not an e-mail address" in err


def test_promote_and_demote_change_the_admin_flag(cli: Cli) -> None:
    cli.create("alice")

    assert cli("user", "promote", "alice")[:2] == (0, "promoted alice\n")
    assert cli.listing()["alice"] == ["-", "admin"]

    assert cli("user", "demote", "alice")[:2] == (0, "demoted alice\n")
    assert cli.listing()["alice"] == ["-"]


def test_user_delete_marks_deleted_and_keeps_the_name(cli: Cli, config_file: Path) -> None:
    cli.create("alice", "--email", "alice@example.com")

    assert cli("user", "delete", "alice")[:2] == (0, "deleted alice\n")

    assert cli.listing()["alice"] == ["-", "deleted"]
    alice = stored_user(config_file, "alice")
    assert alice is not None
    assert alice.account.is_deleted
    assert not check_password(PASSWORD, alice.user.password_hash)
    # The name stays reserved.
    code, _, err = cli("user", "create", "alice", "--password", PASSWORD)
    assert code == 2
    assert "already taken" in err
    # A deleted user cannot be deleted again, nor promoted.
    for action in ("delete", "promote"):
        code, _, err = cli("user", action, "alice")
        assert code == 2
        assert err == "fedserver: no user named 'alice'\n"


@pytest.mark.parametrize("action", ["delete", "promote", "demote"])
def test_actions_on_unknown_users_fail(cli: Cli, action: str) -> None:
    code, _, err = cli("user", action, "nobody")
    assert code == 2
    assert err == "fedserver: no user named 'nobody'\n"


def test_user_commands_refuse_an_invalid_config(cli: Cli, config_file: Path) -> None:
    config_file.write_text(VALID.replace("[database]", "[databse]"))
    code, _, err = cli("user", "create", "alice", "--password", PASSWORD)
    assert code == 2
    assert "  - [databse]: unknown section" in err.splitlines()


@pytest.mark.parametrize(("setting", "expected"), [("", access_logger), ("false", None)])
def test_serve_turns_the_access_log_off_when_configured(
    cli: Cli, config_file: Path, monkeypatch: pytest.MonkeyPatch, setting: str, expected: object
) -> None:
    """`server.access_log = false` makes `serve` pass `access_log=None` (aiohttp's "off");
    by default it passes aiohttp's own access logger (run_app's default)."""
    if setting:
        config_file.write_text(VALID + f"\n[server]\naccess_log = {setting}\n")
    calls: list[dict[str, object]] = []

    def fake_run_app(app: object, **kwargs: object) -> None:
        calls.append(kwargs)

    monkeypatch.setattr("fedserver.cli.web.run_app", fake_run_app)
    code, _, err = cli("serve")

    assert code == 0, err
    [kwargs] = calls
    assert kwargs["access_log"] is expected
    assert kwargs["access_log_class"] is AccessLog


def test_event_loop_choice() -> None:
    from fedserver.cli import new_event_loop

    plain = new_event_loop("asyncio")
    try:
        assert type(plain).__module__.startswith("asyncio")
    finally:
        plain.close()
    auto = new_event_loop("auto")
    try:
        try:
            import uvloop
        except ImportError:
            assert type(auto).__module__.startswith("asyncio")
        else:
            assert isinstance(auto, uvloop.Loop)
    finally:
        auto.close()
