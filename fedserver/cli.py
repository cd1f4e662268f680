"""The `fedserver` command: serve, migrate, check the config, and manage users.

`main(argv)` is the only place that reads the config file and the environment, starts the
event loop or the server. Expected errors (a bad config, a taken username) print one clear
line per problem and exit with status 2; bugs still show a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiohttp import web
from aiohttp.log import access_logger

from actors.service import create_user, existing_user
from fedserver import __version__, cli_federation
from fedserver.accesslog import AccessLog
from fedserver.app import create_app, retention_policy
from fedserver.config import Config, ConfigError, EventLoop, config_path_from, load_config
from fedserver.db import PruneReport, Store
from fedserver.errors import FedError
from fedserver.ids import IdGenerator, isoformat, utc_now
from fedserver.passwords import generate_password

EXIT_USAGE = 2
T = TypeVar("T")


class CommandError(Exception):
    """An expected failure of a command, printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedserver", description="A federated ActivityPub server."
    )
    parser.add_argument("--version", action="version", version=f"fedserver {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="the config file (default: $FEDSERVER_CONFIG, else ./config.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="migrate the database and serve")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("check-config", help="validate the config file and report every problem")

    user = commands.add_parser("user", help="manage local users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    create = user.add_parser("create", help="create a user (prints a password if none given)")
    create.add_argument("name", help="the username, as in @name@domain")
    create.add_argument("--password", help="the password (default: a generated one, printed)")
    create.add_argument("--email", help="the e-mail address the user signs in with")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    user.add_parser("list", help="list local users")
    for action, text in (
        ("delete", "delete a user and tell its followers; the name stays reserved"),
        ("promote", "make a user an administrator"),
        ("demote", "take administrator rights away"),
        ("approve", "approve an account that signed up in approval mode"),
    ):
        user.add_parser(action, help=text).add_argument("name", help="the username")
    cli_federation.add_commands(commands)
    commands.add_parser("reports", help="list open reports (from local users and other servers)")
    deliveries = commands.add_parser(
        "deliveries", help="show the outbound delivery queue (read-only; safe while serving)"
    )
    deliveries.add_argument(
        "--status", type=int, metavar="ID", help="one line per inbox for the local status ID"
    )
    commands.add_parser(
        "prune",
        help="delete finished queue rows older than [retention] says (safe while serving)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = config_path_from(args.config, os.environ)
    try:
        config = load_config(path)
        config_file_problems(config)
        return run_command(args, config)
    except ConfigError as exc:
        print(f"fedserver: invalid config {exc.source}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandError, FedError) as exc:
        print(f"fedserver: {exc}", file=sys.stderr)
        return EXIT_USAGE


def config_file_problems(config: Config) -> None:
    """Checks that need the file system, made at start (and by check-config)."""
    problems = []
    for key, file in (
        ("server.tls_certificate", config.server.tls_certificate),
        ("server.tls_key", config.server.tls_key),
    ):
        if file is not None and not file.is_file():
            problems.append(f"{key}: no such file {str(file)!r}")
    parent = config.database.path.parent
    if parent.exists() and not os.access(parent, os.W_OK):
        problems.append(f"database.path: directory {str(parent)!r} is not writable")
    if problems:
        raise ConfigError(config.source, problems)


def run_command(args: argparse.Namespace, config: Config) -> int:
    if args.command == "check-config":
        print(f"{config.source}: OK ({config.base_url}, database {config.database.path})")
        return 0
    if args.command == "serve":
        return serve(config)
    if args.command == "migrate":
        applied = with_store(config, lambda store: store.migrate(), migrate=False)
        print("applied " + ", ".join(applied) if applied else "database is up to date")
        return 0
    if args.command == "user":
        return user_command(args, config)
    if args.command == "reports":
        return reports_command(config)
    if args.command in ("post", "follow", "unfollow", "alias", "move", "domain"):
        return cli_federation.run(args, config)
    if args.command == "deliveries":
        return deliveries_command(args, config)
    if args.command == "prune":
        return prune_command(config)
    raise AssertionError(f"unhandled command {args.command}")  # argparse prevents this


def with_store(config: Config, work: Callable[[Store], Awaitable[T]], *, migrate: bool = True) -> T:
    """Open (and unless told otherwise, migrate) the database, run `work`, close it."""

    async def run() -> T:
        store = await Store.open(config.database.path)
        try:
            if migrate:
                await store.migrate()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def user_command(args: argparse.Namespace, config: Config) -> int:
    action = args.user_command
    if action == "create":
        password = args.password or generate_password()

        async def create(store: Store) -> None:
            await create_user(
                store,
                IdGenerator(),
                utc_now(),
                username=args.name,
                password=password,
                email=args.email,
                is_admin=args.admin,
                approved=True,
                reserved={config.instance.host.lower()},
            )

        with_store(config, create)
        print(f"created @{args.name}@{config.domain}" + (" (admin)" if args.admin else ""))
        if not args.password:
            print(f"password: {password}")
        print(f"profile: {config.base_url}/@{args.name}")
        return 0
    if action == "list":
        users = with_store(config, lambda store: store.accounts.local_users())
        if not users:
            print("no users yet: create one with `fedserver user create NAME`")
        for user in users:
            flags = [
                flag
                for flag, on in (
                    ("admin", user.user.is_admin),
                    ("deleted", user.account.is_deleted),
                    ("awaiting approval", not user.user.approved),
                )
                if on
            ]
            email = user.user.email or "-"
            print(f"{user.username}\t{email}\t{', '.join(flags)}".rstrip())
        return 0

    if action == "delete":
        cli_federation.delete_user(config, args.name)
        print(f"deleted {args.name}")
        return 0

    async def change(store: Store) -> None:
        user = await existing_user(store, args.name)
        if action == "approve":
            await store.accounts.set_approved(user.account.id)
        else:
            await store.accounts.set_admin(user.account.id, action == "promote")

    with_store(config, change)
    print(
        {"promote": "promoted", "demote": "demoted", "approve": "approved"}[action]
        + f" {args.name}"
    )
    return 0


def new_event_loop(choice: EventLoop) -> asyncio.AbstractEventLoop:
    """The loop `serve` runs on (`server.event_loop`; "uvloop" was checked at load)."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve(config: Config) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ssl_context = None
    if config.server.tls_certificate and config.server.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(config.server.tls_certificate, config.server.tls_key)
    scheme = "https" if ssl_context else "http"
    listen = f"{scheme}://{config.server.host}:{config.server.port}"
    print(f"fedserver {__version__} serving {config.base_url} on {listen}")
    print(
        "next: create the first account with\n"
        f"  .venv/bin/fedserver --config {config.source} user create NAME --admin\n"
        f"then open {listen}/@NAME. Stop with Ctrl-C.",
        flush=True,
    )
    try:
        web.run_app(
            create_app(config),
            loop=new_event_loop(config.server.event_loop),
            host=config.server.host,
            port=config.server.port,
            ssl_context=ssl_context,
            print=None,
            # None turns aiohttp's access log off (`server.access_log = false`).
            access_log=access_logger if config.server.access_log else None,
            access_log_class=AccessLog,
        )
    except OSError as exc:
        raise CommandError(f"cannot listen on {listen}: {exc.strerror}") from None
    return 0


def deliveries_command(args: argparse.Namespace, config: Config) -> int:
    """`fedserver deliveries [--status ID]`: the queue as the database shows it now."""
    if args.status is not None:
        status_id: int = args.status
        records = with_store(config, lambda store: store.deliveries.for_status(status_id))
        if not records:
            print(f"no deliveries for status {status_id}")
        for record in records:
            why = record.reason or record.last_error or ""
            when = f"next {isoformat(record.next_attempt_at)}" if record.state == "pending" else ""
            print(
                "\t".join(
                    (
                        record.inbox_url,
                        record.state,
                        f"attempts {record.attempts}",
                        f"last status {record.last_status or '-'}",
                        why or when,
                    )
                ).rstrip()
            )
        return 0
    summary = with_store(config, lambda store: store.deliveries.summary())
    print(
        f"deliveries: {summary.pending} pending, {summary.delivered} delivered,"
        f" {summary.failed} failed, {summary.skipped} skipped"
    )
    if summary.hosts:
        print("hosts with pending or failed deliveries:")
        for host in summary.hosts:
            next_at = isoformat(host.next_attempt_at) if host.next_attempt_at else "-"
            print(f"  {host.host}\t{host.pending} pending\t{host.failed} failed\tnext {next_at}")
    unavailable = summary.unavailable
    if unavailable:
        print("unavailable hosts (skipped until they answer or send a signed request):")
        for health in unavailable:
            since = isoformat(health.unavailable_since) if health.unavailable_since else "-"
            print(f"  {health.host}\tsince {since}\t{len(health.failure_days)} failure days")
    failing = [health for health in summary.health if not health.unavailable]
    if failing:
        print("hosts failing recently:")
        for health in failing:
            print(f"  {health.host}\t{len(health.failure_days)} failure days")
    return 0


def reports_command(config: Config) -> int:
    """`fedserver reports`: what was reported, by whom, about whom."""

    async def load(store: Store) -> list[str]:
        lines = []
        for report_id, reporter_id, target_id, comment in await store.reports.open_reports():
            reporter = await store.accounts.by_id(reporter_id)
            target = await store.accounts.by_id(target_id)
            who = reporter.acct if reporter else "?"
            whom = target.acct if target else "?"
            lines.append(f"{report_id}\t{who} reported {whom}\t{comment[:200]}".rstrip())
        return lines

    lines = with_store(config, load)
    print("\n".join(lines) if lines else "no open reports")
    return 0


#: `fedserver prune` prints a progress line per step every this many deleted rows.
PRUNE_PROGRESS_ROWS = 10_000


def prune_command(config: Config) -> int:
    """`fedserver prune`: what the server's periodic prune does, now, with progress."""
    policy = retention_policy(config)
    print(f"pruning {config.database.path} ({policy.describe()})", flush=True)
    shown: dict[str, int] = {}

    def progress(step: str, deleted: int) -> None:
        # Every PRUNE_PROGRESS_ROWS rows of a long step, so a large backlog shows movement.
        if deleted - shown.get(step, 0) >= PRUNE_PROGRESS_ROWS:
            shown[step] = deleted
            print(f"  {step}: {deleted:,} deleted so far", flush=True)

    async def prune(store: Store) -> tuple[PruneReport, bool, int]:
        report = await store.retention.prune(policy, utc_now(), progress)
        return report, await store.retention.checkpoint(), await store.retention.free_bytes()

    started = time.monotonic()
    report, truncated, free = with_store(config, prune)
    for step, deleted in report.deleted.items():
        print(f"  {step}: {deleted:,} deleted")
    print(
        f"deleted {report.total:,} rows in {time.monotonic() - started:.1f} s"
        f" ({report.batches:,} batches, the longest held the writer"
        f" {report.longest_batch_seconds * 1000:.1f} ms)"
    )
    print(
        "write-ahead log truncated"
        if truncated
        else "write-ahead log in use by another connection: it is truncated next time"
    )
    if free >= 64 * 1024 * 1024:
        print(
            f"{free / 2**20:,.0f} MiB of the file is free space that new rows reuse; to give it"
            " back to the disk, stop the server and run VACUUM (see the README)"
        )
    return 0
