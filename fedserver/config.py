"""config.toml → frozen, validated dataclasses.

`load_config(path)` reads a file; `parse_config(mapping, source)` validates an already-parsed
mapping (tests use it, so they go through the same checks). Every problem is collected before
anything is raised: unknown sections and keys (typos), wrong types, missing values and bad
values are all reported at once, each with its dotted path, in one `ConfigError`.

Nothing here runs at import time; only `fedserver.cli` calls `load_config`.
The reference for every key is the commented `config.toml` at the repository root.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

RegistrationMode = Literal["open", "approval", "closed"]
EventLoop = Literal["auto", "asyncio", "uvloop"]
DomainPolicy = Literal["blocklist", "allowlist"]

#: Where the config path comes from when `--config` is not given.
CONFIG_ENV_VAR = "FEDSERVER_CONFIG"
DEFAULT_CONFIG_PATH = "config.toml"


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every reason, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"invalid config {source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class InstanceConfig:
    #: The domain as it appears in `acct:user@domain`; may carry a port for local use.
    domain: str
    #: Where the server is reached; every ActivityPub id starts with it. No trailing slash.
    base_url: str
    #: Shown in the instance API, NodeInfo and page titles.
    name: str = "fedserver"
    description: str = ""
    contact_email: str = ""
    #: BCP 47 language codes the instance is mostly used in.
    languages: tuple[str, ...] = ("en",)
    #: Where people can get this server's source code (AGPL §13); shown in the instance API.
    source_url: str = ""

    @property
    def host(self) -> str:
        """The domain without a port, as used by the instance actor's username."""
        return urlsplit("//" + self.domain).hostname or self.domain


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    #: PEM certificate chain and key; both set means HTTPS is served directly.
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs).
    trusted_proxies: tuple[str, ...] = ()
    #: One line per request on the `aiohttp.access` logger (about 15 us of CPU each).
    access_log: bool = True
    #: "auto": uvloop when the `speedups` extra is installed, else asyncio's own loop.
    event_loop: EventLoop = "auto"

    @property
    def serves_tls(self) -> bool:
        return self.tls_certificate is not None


@dataclass(frozen=True)
class DatabaseConfig:
    #: The SQLite file; relative paths are relative to the config file.
    path: Path


@dataclass(frozen=True)
class RegistrationsConfig:
    mode: RegistrationMode = "closed"
    #: Instance rules shown to people signing up (and in the instance API).
    rules: tuple[str, ...] = ()
    #: In approval mode, whether a sign-up must say why they want to join.
    require_reason: bool = False
    #: Usernames nobody may register through the API (the CLI may still create them).
    reserved_usernames: tuple[str, ...] = (
        "admin", "administrator", "root", "support", "help", "moderator", "mod",
        "webmaster", "postmaster", "abuse", "security", "staff", "info",
    )  # fmt: skip


@dataclass(frozen=True)
class ApiConfig:
    #: The OAuth password grant (username or e-mail + password for a token). Mastodon
    #: removed it in 4.4; scripts (toot, Mastodon.py log_in) still use it.
    password_grant: bool = False
    #: Requests per 5 minutes per token (authenticated) and per IP (unauthenticated);
    #: Mastodon's defaults. 0 turns a limit off.
    authenticated_requests_per_5min: int = 1500
    unauthenticated_requests_per_5min: int = 300
    #: Sign-in attempts (token requests with a password) per 5 minutes per IP and per account.
    sign_in_attempts_per_5min: int = 25
    #: Sign-ups through the API per 30 minutes per IP.
    sign_ups_per_30min: int = 5


@dataclass(frozen=True)
class FederationConfig:
    #: Require a valid HTTP signature on GETs of objects and collections.
    authorized_fetch: bool = False
    #: Allow plain-http remote URLs (local development and tests only).
    allow_http: bool = False
    #: Allow outbound requests to private, loopback and link-local addresses (tests only).
    allow_private_addresses: bool = False
    #: "blocklist": everyone but blocked domains; "allowlist": only the listed domains.
    domain_policy: DomainPolicy = "blocklist"
    blocked_domains: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    #: Total deadline of one outbound request, redirects included.
    fetch_timeout_seconds: float = 10.0
    #: Largest JSON document accepted from a remote server.
    max_fetched_document_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class LimitsConfig:
    #: Largest request body accepted (inbox and API); larger gets 413 before parsing.
    max_body_bytes: int = 1024 * 1024
    max_status_chars: int = 500
    max_display_name_chars: int = 30
    max_bio_chars: int = 500
    max_profile_fields: int = 4
    #: Items per page of followers, following and outbox collections.
    collection_page_size: int = 20


@dataclass(frozen=True)
class DeliveryConfig:
    """The outbound delivery worker (Mastodon-like defaults)."""

    #: Run the delivery worker in the server process. Off, activities queue up unsent.
    enabled: bool = True
    #: Attempts before a delivery is given up (16 span about 2-3 days, as Mastodon).
    max_attempts: int = 16
    #: Attempts before a delivery answered 401 (our signature refused) is given up.
    unauthorized_max_attempts: int = 3
    #: POSTs in flight at once, and per remote host (1: one connection per host).
    concurrency: int = 32
    per_host_concurrency: int = 1
    #: Seconds a connection to a remote host may take to open.
    connect_timeout_seconds: float = 5.0
    #: A POST unanswered after this long stops counting against `concurrency`.
    slow_after_seconds: float = 2.0
    #: Deliveries the worker keeps claimed in memory.
    claim_window: int = 256
    #: How often an idle worker looks for due deliveries, in seconds.
    poll_seconds: float = 0.5
    #: Upper bound on a remote's Retry-After, in seconds.
    retry_after_cap_seconds: float = 86400.0
    #: Consecutive failures of a host that open its circuit breaker, and for how long.
    breaker_threshold: int = 10
    breaker_cool_off_seconds: float = 60.0
    #: Distinct days of failures after which a host is marked unavailable.
    unavailable_after_days: int = 7
    #: On shutdown, how long in-flight deliveries may finish before they are left pending.
    shutdown_grace_seconds: float = 10.0


@dataclass(frozen=True)
class RetentionConfig:
    """How long finished queue rows are kept (`fedserver prune` and the server's task).
    Every `*_days` key: 0 keeps those rows forever."""

    #: Minutes between prunes in the server; 0: only `fedserver prune` prunes.
    interval_minutes: float = 60.0
    #: Rows deleted per transaction: the database's writer is held for one batch.
    batch_size: int = 1000
    #: Delivered deliveries, and failed or skipped ones, after they ended.
    delivered_days: int = 7
    failed_days: int = 30
    #: Processed (done, ignored) and dead-lettered inbox items, after they arrived. The
    #: item is what refuses a redelivered activity; it is kept at least a day anyway.
    inbox_processed_days: int = 7
    inbox_dead_days: int = 30
    #: OAuth authorization codes, after they expired.
    oauth_codes_days: int = 7


@dataclass(frozen=True)
class Config:
    instance: InstanceConfig
    database: DatabaseConfig
    server: ServerConfig = field(default_factory=ServerConfig)
    registrations: RegistrationsConfig = field(default_factory=RegistrationsConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    #: Where the config came from, for messages.
    source: str = "<mapping>"

    @property
    def base_url(self) -> str:
        return self.instance.base_url

    @property
    def domain(self) -> str:
        return self.instance.domain


def config_path_from(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """--config PATH, else $FEDSERVER_CONFIG, else ./config.toml."""
    return Path(cli_value or environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: Path) -> Config:
    """Read and validate a config file; raises ConfigError naming every problem."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, [f"cannot read file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    return parse_config(data, source=source, base_dir=path.parent)


class _Reader:
    """Reads one section, recording problems instead of raising."""

    def __init__(self, problems: list[str], section: str, data: Mapping[str, Any]):
        self.problems = problems
        self.section = section
        self.data = data
        self.seen: set[str] = set()

    def _raw(self, key: str, kinds: tuple[type, ...], required: bool) -> Any:
        """The value when present and of the right type, else None (with a problem noted)."""
        self.seen.add(key)
        path = f"{self.section}.{key}"
        if key not in self.data:
            if required:
                self.problems.append(f"{path}: required")
            return None
        value = self.data[key]
        # TOML booleans are ints in Python; never accept one for the other.
        if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
            self.problems.append(
                f"{path}: expected {_describe(kinds)}, got {type(value).__name__} {value!r}"
            )
            return None
        return value

    def _checked(self, key: str, value: Any, check: Callable[[Any], str | None] | None) -> bool:
        problem = check(value) if check is not None else None
        if problem:
            self.problems.append(f"{self.section}.{key}: {problem}")
        return not problem

    def string(
        self,
        key: str,
        default: str = "",
        *,
        required: bool = False,
        check: Callable[[str], str | None] | None = None,
    ) -> str:
        value = self._raw(key, (str,), required)
        return value if value is not None and self._checked(key, value, check) else default

    def integer(
        self, key: str, default: int, *, check: Callable[[int], str | None] | None = None
    ) -> int:
        value = self._raw(key, (int,), False)
        return value if value is not None and self._checked(key, value, check) else default

    def number(
        self, key: str, default: float, *, check: Callable[[float], str | None] | None = None
    ) -> float:
        value = self._raw(key, (int, float), False)
        if value is None or not self._checked(key, value, check):
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key, (bool,), False)
        return default if value is None else bool(value)

    def string_list(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._raw(key, (list,), False)
        if value is None:
            return default
        if not all(isinstance(item, str) for item in value):
            self.problems.append(f"{self.section}.{key}: expected a list of strings")
            return default
        return tuple(value)

    def finish(self) -> None:
        for key in sorted(set(self.data) - self.seen):
            self.problems.append(f"{self.section}.{key}: unknown key")


def _describe(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


#: [delivery] durations that cannot be 0 (the others may: 0 s of grace, no cool-off).
_POSITIVE_DELIVERY_SECONDS = frozenset(
    {"poll_seconds", "connect_timeout_seconds", "slow_after_seconds"}
)


def _not_negative_number(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return "must be one of " + ", ".join(repr(c) for c in choices)

    return check


def _check_domain(value: str) -> str | None:
    if not value or value != value.strip().lower():
        return "must be a lower-case host name, such as 'example.com' or 'localhost:8080'"
    parts = urlsplit("//" + value)
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port"
    if not parts.hostname or parts.netloc != value or "/" in value or "@" in value:
        return "must be a bare host name with an optional port, no scheme or path"
    del port
    return None


def _check_base_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// URL"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must not have a path, query or fragment"
    return None


def _check_optional_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// URL, or empty"
    return None


def _check_network(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IP address or CIDR range"
    return None


def _check_port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be between 1 and 65535"


def parse_config(
    data: Mapping[str, Any], source: str = "<mapping>", base_dir: Path | None = None
) -> Config:
    """Validate a parsed TOML mapping into a Config, or raise ConfigError with every problem."""
    base_dir = base_dir or Path.cwd()
    problems: list[str] = []
    sections = {
        "instance",
        "server",
        "database",
        "registrations",
        "federation",
        "limits",
        "api",
        "delivery",
        "retention",
    }
    for name in sorted(set(data) - sections):
        problems.append(f"[{name}]: unknown section")

    def section(name: str, *, required: bool = False) -> _Reader:
        value = data.get(name, {})
        if name not in data and required:
            problems.append(f"[{name}]: required section is missing")
        if not isinstance(value, Mapping):
            problems.append(f"[{name}]: expected a table")
            value = {}
        return _Reader(problems, name, value)

    # [instance]
    r = section("instance", required=True)
    domain = r.string("domain", required=True, check=_check_domain)
    base_url = r.string("base_url", check=_check_base_url)
    instance_name = r.string("name", "fedserver", check=_non_empty)
    description = r.string("description")
    contact_email = r.string("contact_email")
    languages = r.string_list("languages", ("en",))
    source_url = r.string("source_url", check=_check_optional_url)
    r.finish()
    if domain and base_url and urlsplit(base_url).netloc != domain:
        problems.append(
            f"instance.base_url: its host {urlsplit(base_url).netloc!r} must equal "
            f"instance.domain {domain!r}"
        )

    # [server]
    r = section("server")
    host = r.string("host", "127.0.0.1", check=_non_empty)
    port = r.integer("port", 8080, check=_check_port)
    cert = r.string("tls_certificate")
    key = r.string("tls_key")
    proxies = r.string_list("trusted_proxies")
    for proxy in proxies:
        problem = _check_network(proxy)
        if problem:
            problems.append(f"server.trusted_proxies: {problem}")
    access_log = r.boolean("access_log", True)
    event_loop = r.string("event_loop", "auto", check=_one_of("auto", "asyncio", "uvloop"))
    r.finish()
    if event_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        problems.append(
            "server.event_loop: uvloop is not installed (pip install 'fedserver[speedups]'),"
            ' or use "auto"'
        )
    if bool(cert) != bool(key):
        problems.append(
            "server.tls_certificate and server.tls_key: set both to serve HTTPS, or neither"
        )

    # [database]
    r = section("database", required=True)
    db_path = r.string("path", required=True, check=_non_empty)
    r.finish()

    # [registrations]
    r = section("registrations")
    registration_defaults = RegistrationsConfig()
    mode = r.string("mode", "closed", check=_one_of("open", "approval", "closed"))
    rules = r.string_list("rules")
    require_reason = r.boolean("require_reason", False)
    reserved = tuple(
        name.lower()
        for name in r.string_list("reserved_usernames", registration_defaults.reserved_usernames)
    )
    r.finish()

    # [api]
    r = section("api")
    api_defaults = ApiConfig()

    def _not_negative(value: int) -> str | None:
        return None if value >= 0 else "must be 0 (off) or more"

    api = ApiConfig(
        password_grant=r.boolean("password_grant", False),
        **{
            field_name: r.integer(
                field_name, getattr(api_defaults, field_name), check=_not_negative
            )
            for field_name in ApiConfig.__dataclass_fields__
            if field_name != "password_grant"
        },
    )
    r.finish()

    # [federation]
    r = section("federation")
    fed_defaults = FederationConfig()
    federation = FederationConfig(
        authorized_fetch=r.boolean("authorized_fetch", False),
        allow_http=r.boolean("allow_http", False),
        allow_private_addresses=r.boolean("allow_private_addresses", False),
        domain_policy=cast(
            DomainPolicy,
            r.string("domain_policy", "blocklist", check=_one_of("blocklist", "allowlist")),
        ),
        blocked_domains=tuple(d.lower() for d in r.string_list("blocked_domains")),
        allowed_domains=tuple(d.lower() for d in r.string_list("allowed_domains")),
        fetch_timeout_seconds=r.number(
            "fetch_timeout_seconds", fed_defaults.fetch_timeout_seconds, check=_positive
        ),
        max_fetched_document_bytes=r.integer(
            "max_fetched_document_bytes",
            fed_defaults.max_fetched_document_bytes,
            check=_positive,
        ),
    )
    r.finish()

    # [limits]
    r = section("limits")
    limit_defaults = LimitsConfig()
    limits = LimitsConfig(
        **{
            field_name: r.integer(field_name, getattr(limit_defaults, field_name), check=_positive)
            for field_name in LimitsConfig.__dataclass_fields__
        }
    )
    r.finish()

    # [delivery]
    r = section("delivery")
    delivery_values: dict[str, Any] = {}
    for name, default in DeliveryConfig().__dict__.items():
        if isinstance(default, bool):
            delivery_values[name] = r.boolean(name, default)
        elif isinstance(default, int):
            delivery_values[name] = r.integer(name, default, check=_positive)
        elif name in _POSITIVE_DELIVERY_SECONDS:
            delivery_values[name] = r.number(name, default, check=_positive)
        else:
            delivery_values[name] = r.number(name, default, check=_not_negative_number)
    delivery = DeliveryConfig(**delivery_values)
    r.finish()

    # [retention]
    r = section("retention")
    retention_defaults = RetentionConfig()

    def _days(value: int) -> str | None:
        return None if value >= 0 else "must be 0 (keep forever) or more days"

    retention = RetentionConfig(
        interval_minutes=r.number(
            "interval_minutes",
            retention_defaults.interval_minutes,
            check=lambda value: None if value >= 0 else "must be 0 (off) or more minutes",
        ),
        batch_size=r.integer(
            "batch_size",
            retention_defaults.batch_size,
            check=lambda value: None if 1 <= value <= 100_000 else "must be 1 to 100000 rows",
        ),
        **{
            name: r.integer(name, default, check=_days)
            for name, default in retention_defaults.__dict__.items()
            if name.endswith("_days")
        },
    )
    r.finish()

    if problems:
        raise ConfigError(source, problems)

    return Config(
        instance=InstanceConfig(
            domain=domain,
            base_url=(base_url or f"https://{domain}").rstrip("/"),
            name=instance_name,
            description=description,
            contact_email=contact_email,
            languages=languages,
            source_url=source_url,
        ),
        server=ServerConfig(
            host=host,
            port=port,
            tls_certificate=_resolve(base_dir, cert) if cert else None,
            tls_key=_resolve(base_dir, key) if key else None,
            trusted_proxies=proxies,
            access_log=access_log,
            event_loop=cast(EventLoop, event_loop),
        ),
        database=DatabaseConfig(path=_resolve(base_dir, db_path)),
        registrations=RegistrationsConfig(
            mode=cast(RegistrationMode, mode),
            rules=rules,
            require_reason=require_reason,
            reserved_usernames=reserved,
        ),
        api=api,
        delivery=delivery,
        retention=retention,
        federation=federation,
        limits=limits,
        source=source,
    )


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base_dir / path
