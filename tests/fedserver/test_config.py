"""config.toml validation: defaults, typos, types, missing and bad values, all reported at once."""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fedserver.config import (
    ApiConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    DeliveryConfig,
    FederationConfig,
    InstanceConfig,
    LimitsConfig,
    RegistrationsConfig,
    RetentionConfig,
    ServerConfig,
    config_path_from,
    load_config,
    parse_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO_ROOT / "config.toml"

#: The dataclass behind each section of the file.
SECTIONS: dict[str, type[Any]] = {
    "instance": InstanceConfig,
    "server": ServerConfig,
    "database": DatabaseConfig,
    "registrations": RegistrationsConfig,
    "federation": FederationConfig,
    "limits": LimitsConfig,
    "api": ApiConfig,
    "delivery": DeliveryConfig,
    "retention": RetentionConfig,
}


def minimal(**sections: dict[str, Any]) -> dict[str, Any]:
    """The smallest valid mapping, with sections merged in (a value of None deletes a key)."""
    data: dict[str, Any] = {
        "instance": {"domain": "example.com"},
        "database": {"path": "/var/lib/fedserver/db.sqlite3"},
    }
    for name, values in sections.items():
        section = data.setdefault(name, {})
        for key, value in values.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="test.toml")
    assert caught.value.source == "test.toml"
    return caught.value.problems


def test_minimal_mapping_gets_documented_defaults() -> None:
    config = parse_config(minimal())

    assert config.domain == "example.com"
    assert config.base_url == "https://example.com"
    assert config.instance.name == "fedserver"
    assert config.instance.languages == ("en",)
    assert config.registrations.mode == "closed"
    assert config.federation.authorized_fetch is False
    assert config.federation.allow_http is False
    assert config.federation.allow_private_addresses is False
    assert config.federation.domain_policy == "blocklist"
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.serves_tls is False
    assert config.server.access_log is True
    assert config.server.event_loop == "auto"
    assert config.database.path == Path("/var/lib/fedserver/db.sqlite3")
    assert config.limits == LimitsConfig()
    assert config.retention == RetentionConfig()
    assert config.api == ApiConfig()


def test_base_url_trailing_slash_is_dropped_and_domain_may_carry_a_port() -> None:
    config = parse_config(
        minimal(instance={"domain": "localhost:8080", "base_url": "http://localhost:8080/"})
    )
    assert config.base_url == "http://localhost:8080"
    assert config.instance.host == "localhost"


def test_misspelt_key_is_reported_by_dotted_name() -> None:
    problems = problems_of(minimal(instance={"domian": "example.org"}))
    assert problems == ["instance.domian: unknown key"]


def test_unknown_section_is_reported() -> None:
    problems = problems_of(minimal(databse={"path": "x.sqlite3"}))
    assert problems == ["[databse]: unknown section"]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("server", "port", "80"),
        # TOML booleans and integers are different types: neither stands in for the other.
        ("federation", "allow_http", 1),
        ("limits", "max_body_bytes", True),
        ("instance", "languages", "en"),
        ("server", "trusted_proxies", [1, 2]),
        ("server", "access_log", "off"),
        ("federation", "fetch_timeout_seconds", "10"),
    ],
)
def test_wrong_type_is_reported_with_its_path(section: str, key: str, value: Any) -> None:
    problems = problems_of(minimal(**{section: {key: value}}))
    assert len(problems) == 1
    assert problems[0].startswith(f"{section}.{key}: expected")


def test_missing_database_section_is_reported() -> None:
    data = minimal()
    del data["database"]
    assert problems_of(data) == [
        "[database]: required section is missing",
        "database.path: required",
    ]


def test_missing_domain_is_reported() -> None:
    assert problems_of(minimal(instance={"domain": None})) == ["instance.domain: required"]


def test_a_section_that_is_not_a_table_is_reported() -> None:
    data = minimal()
    data["limits"] = 5
    assert problems_of(data) == ["[limits]: expected a table"]


def test_every_problem_is_reported_at_once() -> None:
    data = minimal(
        instance={"domain": None, "domian": "example.com"},
        server={"port": "80", "trusted_proxies": ["not-an-ip"]},
        registrations={"mode": "maybe"},
        federation={"allow_http": 1},
        limits={"max_body_bytes": True},
        extra={"x": 1},
    )
    del data["database"]

    problems = problems_of(data)

    assert set(problems) == {
        "[extra]: unknown section",
        "instance.domain: required",
        "instance.domian: unknown key",
        "server.port: expected an integer, got str '80'",
        "server.trusted_proxies: 'not-an-ip' is not an IP address or CIDR range",
        "[database]: required section is missing",
        "database.path: required",
        "registrations.mode: must be one of 'open', 'approval', 'closed'",
        "federation.allow_http: expected true or false, got int 1",
        "limits.max_body_bytes: expected an integer, got bool True",
    }
    assert len(problems) == len(set(problems))


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        ({"registrations": {"mode": "maybe"}}, "registrations.mode: must be one of"),
        ({"server": {"port": 70000}}, "server.port: must be between 1 and 65535"),
        ({"server": {"port": 0}}, "server.port: must be between 1 and 65535"),
        (
            {"instance": {"base_url": "https://example.com/fed"}},
            "instance.base_url: must not have a path",
        ),
        (
            {"instance": {"base_url": "ftp://example.com"}},
            "instance.base_url: must be an http:// or https:// URL",
        ),
        (
            {"instance": {"base_url": "https://other.example"}},
            "instance.base_url: its host 'other.example' must equal instance.domain",
        ),
        (
            {"instance": {"domain": "https://example.com"}},
            "instance.domain: must be a bare host name",
        ),
        ({"instance": {"domain": "Example.com"}}, "instance.domain: must be a lower-case"),
        ({"instance": {"domain": "example.com/x"}}, "instance.domain: must be a bare host name"),
        ({"instance": {"domain": "example.com:99999"}}, "instance.domain: has an invalid port"),
        ({"instance": {"name": " "}}, "instance.name: must not be empty"),
        (
            {"server": {"trusted_proxies": ["10.0.0.0/8", "not-an-ip"]}},
            "server.trusted_proxies: 'not-an-ip' is not an IP address",
        ),
        (
            {"server": {"tls_certificate": "cert.pem"}},
            "server.tls_certificate and server.tls_key: set both",
        ),
        ({"server": {"tls_key": "key.pem"}}, "server.tls_certificate and server.tls_key"),
        (
            {"federation": {"domain_policy": "open"}},
            "federation.domain_policy: must be one of 'blocklist', 'allowlist'",
        ),
        (
            {"federation": {"fetch_timeout_seconds": 0}},
            "federation.fetch_timeout_seconds: must be greater than 0",
        ),
        ({"limits": {"collection_page_size": -1}}, "limits.collection_page_size: must be"),
        ({"database": {"path": ""}}, "database.path: must not be empty"),
    ],
)
def test_bad_value_is_reported(sections: dict[str, dict[str, Any]], problem: str) -> None:
    problems = problems_of(minimal(**sections))
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


def test_valid_non_default_values_are_kept(tmp_path: Path) -> None:
    config = parse_config(
        minimal(
            instance={"base_url": "https://example.com", "languages": ["de", "en"]},
            server={
                "port": 443,
                "tls_certificate": "cert.pem",
                "tls_key": "/etc/key.pem",
                "trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "::1"],
                "access_log": False,
            },
            registrations={"mode": "approval"},
            federation={
                "domain_policy": "allowlist",
                "allowed_domains": ["Friends.Example"],
                "fetch_timeout_seconds": 2,
            },
            limits={"max_body_bytes": 1000},
        ),
        base_dir=tmp_path,
    )
    assert config.instance.languages == ("de", "en")
    assert config.server.tls_certificate == tmp_path / "cert.pem"
    assert config.server.tls_key == Path("/etc/key.pem")
    assert config.server.serves_tls is True
    assert config.server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert config.server.access_log is False
    assert config.registrations.mode == "approval"
    assert config.federation.allowed_domains == ("friends.example",)
    assert config.federation.fetch_timeout_seconds == 2.0
    assert config.limits.max_body_bytes == 1000


def test_relative_database_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "fed.toml"
    path.write_text('[instance]\ndomain = "example.com"\n[database]\npath = "data/db.sqlite3"\n')

    config = load_config(path)

    assert config.database.path == folder / "data" / "db.sqlite3"
    assert config.source == str(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.problems == ["cannot read file: No such file or directory"]


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[instance]\ndomain = "example.com\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("not valid TOML: ")


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[instance]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_config_path_precedence() -> None:
    env = {"FEDSERVER_CONFIG": "/from/env.toml"}
    assert config_path_from("/from/cli.toml", env) == Path("/from/cli.toml")
    assert config_path_from(None, env) == Path("/from/env.toml")
    assert config_path_from(None, {}) == Path("config.toml")
    assert config_path_from(None, {"FEDSERVER_CONFIG": ""}) == Path("config.toml")


def test_shipped_config_loads_cleanly() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert config.domain == "localhost:8080"
    assert config.base_url == "http://localhost:8080"
    assert config.database.path == REPO_ROOT / "data" / "fedserver.sqlite3"


def test_shipped_config_documents_every_key() -> None:
    """The reference file names every field of every section, and nothing else."""
    data = tomllib.loads(SHIPPED_CONFIG.read_text("utf-8"))
    config_sections = {f.name for f in dataclasses.fields(Config)} - {"source"}
    assert set(SECTIONS) == config_sections
    assert set(data) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        expected = {f.name for f in dataclasses.fields(cls)}
        assert set(data[name]) == expected, name


def test_shipped_config_values_are_the_defaults_where_they_have_one() -> None:
    """Besides the local-development instance and database, the file shows the defaults."""
    config = load_config(SHIPPED_CONFIG)
    assert config.server == ServerConfig()
    assert config.registrations == RegistrationsConfig()
    assert config.federation == FederationConfig()
    assert config.limits == LimitsConfig()
    assert config.retention == RetentionConfig()


def test_source_url_must_be_a_url_or_empty() -> None:
    assert parse_config(minimal()).instance.source_url == ""
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(instance={"domain": "example.com", "source_url": "ftp://x"}))
    assert caught.value.problems == [
        "instance.source_url: must be an http:// or https:// URL, or empty"
    ]


def test_event_loop_names_its_choices() -> None:
    problems = problems_of(minimal(server={"event_loop": "trio"}))
    assert len(problems) == 1
    assert problems[0].startswith("server.event_loop:")
    assert parse_config(minimal(server={"event_loop": "asyncio"})).server.event_loop == "asyncio"


def test_event_loop_uvloop_requires_it_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "uvloop" else real_find_spec(name, *a),
    )
    problems = problems_of(minimal(server={"event_loop": "uvloop"}))
    assert problems == [
        "server.event_loop: uvloop is not installed (pip install 'fedserver[speedups]'),"
        ' or use "auto"'
    ]
