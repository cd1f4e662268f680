"""How much our HTTP-signature code costs on top of the bare RSA operations.

    python bench/signatures.py [--seconds N] [--profile]

One process, CPU time (`time.process_time`). The baselines are `cryptography` alone:
RSA-2048 PKCS#1 v1.5 SHA-256 sign and verify of a typical signing string, with the
parsed key object reused. Against them:

* `sign_cavage` and `sign_rfc9421` of a realistic ~2 KB POST (a Create of a Note, as
  delivered to an inbox): building the signing string, the body digest, the headers;
* the whole verify path with a cached parsed key, which is what the inbox pays per
  request once the sender's key is known: `parse_request_signature` (header parsing,
  coverage, digest of the raw body, Date) + `verify_signed_request` (time window, key
  check, RSA verify), for a draft-cavage and an RFC 9421 request.

Targets (issue 3): verify with a cached key >= 0.7x bare verify, sign >= 0.9x bare
sign. The exit status is 1 when a target is missed. `--profile` adds a cProfile of the
cavage verify path.

Measuring: `--seconds` (default 1) is the CPU time each operation gets in total, split
into 10 rounds; in each round every operation runs once, in an order that flips every
round, and an operation's ratio to its baseline is taken within the round. Rates and
ratios printed are the medians over the rounds, so a machine that gets busier or
quieter during the run moves an operation and its baseline together.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedserver.signatures import (
    load_public_key,
    parse_request_signature,
    public_key_pem,
    sign_cavage,
    sign_rfc9421,
    verify_signed_request,
)
from fedserver.signatures.model import split_url

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
INBOX = "https://example.com/users/alice/inbox"
KEY_ID = "https://remote.example/users/bob#main-key"
ROUNDS = 10


def realistic_body() -> bytes:
    """A Create(Note) of about 2 KB, shaped like what Mastodon delivers."""
    actor = "https://remote.example/users/bob"
    note_id = f"{actor}/statuses/113512345678901234"
    content = (
        "<p>Benchmarks are only as good as the workload they model. This note carries "
        "a mention, a hashtag and a link, like the posts an inbox receives all day: "
        '<span class="h-card"><a href="https://example.com/@alice" class="u-url mention">'
        "@<span>alice</span></a></span> have a look at "
        '<a href="https://example.org/some/article" rel="nofollow noopener" target="_blank">'
        "example.org/some/article</a> <a href="
        '"https://remote.example/tags/fediverse" class="mention hashtag" rel="tag">'
        "#<span>fediverse</span></a></p>"
    )
    activity = {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {
                "ostatus": "http://ostatus.org#",
                "atomUri": "ostatus:atomUri",
                "sensitive": "as:sensitive",
                "Hashtag": "as:Hashtag",
                "toot": "http://joinmastodon.org/ns#",
            },
        ],
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "published": "2026-11-21T11:59:58Z",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{actor}/followers", "https://example.com/users/alice"],
        "object": {
            "id": note_id,
            "type": "Note",
            "summary": None,
            "inReplyTo": None,
            "published": "2026-11-21T11:59:58Z",
            "url": "https://remote.example/@bob/113512345678901234",
            "attributedTo": actor,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers", "https://example.com/users/alice"],
            "sensitive": False,
            "atomUri": note_id,
            "conversation": "tag:remote.example,2026-11-21:objectId=123456:objectType=Conversation",
            "content": content,
            "contentMap": {"en": content},
            "attachment": [],
            "tag": [
                {
                    "type": "Mention",
                    "href": "https://example.com/users/alice",
                    "name": "@alice@example.com",
                },
                {
                    "type": "Hashtag",
                    "href": "https://remote.example/tags/fediverse",
                    "name": "#fediverse",
                },
            ],
            "replies": {
                "id": f"{note_id}/replies",
                "type": "Collection",
                "first": {
                    "type": "CollectionPage",
                    "next": f"{note_id}/replies?only_other_accounts=true&page=true",
                    "partOf": f"{note_id}/replies",
                    "items": [],
                },
            },
        },
    }
    return json.dumps(activity).encode()


@dataclass(frozen=True)
class Fixture:
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey
    body: bytes
    #: What the bare baselines sign and verify: a draft-cavage signing string.
    message: bytes
    signature: bytes
    cavage_headers: list[tuple[str, str]]
    rfc9421_headers: list[tuple[str, str]]


def build_fixture() -> Fixture:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Parsed from PEM once, the way the key resolver caches it.
    public_key = load_public_key(public_key_pem(private_key))
    assert isinstance(public_key, rsa.RSAPublicKey)
    body = realistic_body()
    base = {
        "Content-Type": "application/activity+json",
        "User-Agent": "Mastodon/4.5.0 (http.rb/5.2.0; +https://remote.example/)",
        "Accept-Encoding": "gzip",
        "Content-Length": str(len(body)),
        "Connection": "Keep-Alive",
    }
    cavage = sign_cavage(
        "POST",
        INBOX,
        base,
        body,
        key_id=KEY_ID,
        private_key=private_key,
        now=NOW,
        extra_signed=["content-type"],  # as Mastodon signs
    )
    rfc = sign_rfc9421("POST", INBOX, base, body, key_id=KEY_ID, private_key=private_key, now=NOW)
    _, host, target = split_url(INBOX)
    message = (
        f"(request-target): post {target}\nhost: {host}\ndate: {cavage['Date']}\n"
        f"digest: {cavage['Digest']}\ncontent-type: application/activity+json"
    ).encode()
    return Fixture(
        private_key=private_key,
        public_key=public_key,
        body=body,
        message=message,
        signature=private_key.sign(message, padding.PKCS1v15(), hashes.SHA256()),
        cavage_headers=[*base.items(), *cavage.items()],
        rfc9421_headers=[
            *base.items(),
            ("Host", host),
            ("Date", cavage["Date"]),
            *rfc.items(),
        ],
    )


def operations(f: Fixture) -> dict[str, Callable[[], object]]:
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    _, host, target = split_url(INBOX)

    def bare_sign() -> object:
        return f.private_key.sign(f.message, pkcs1, sha256)

    def bare_verify() -> object:
        f.public_key.verify(f.signature, f.message, pkcs1, sha256)
        return None

    def our_sign_cavage() -> object:
        return sign_cavage(
            "POST",
            INBOX,
            {"Content-Type": "application/activity+json"},
            f.body,
            key_id=KEY_ID,
            private_key=f.private_key,
            now=NOW,
            extra_signed=["content-type"],
        )

    def our_sign_rfc9421() -> object:
        return sign_rfc9421(
            "POST",
            INBOX,
            {"Content-Type": "application/activity+json"},
            f.body,
            key_id=KEY_ID,
            private_key=f.private_key,
            now=NOW,
        )

    def verify_path(headers: list[tuple[str, str]]) -> Callable[[], object]:
        def verify() -> object:
            signed = parse_request_signature(
                "POST", target, headers, f.body, host=host, target_uri=INBOX
            )
            verify_signed_request(signed, f.public_key, now=NOW)
            return signed

        return verify

    return {
        "bare sign": bare_sign,
        "bare verify": bare_verify,
        "sign_cavage": our_sign_cavage,
        "sign_rfc9421": our_sign_rfc9421,
        "verify cavage (cached key)": verify_path(f.cavage_headers),
        "verify rfc9421 (cached key)": verify_path(f.rfc9421_headers),
    }


@dataclass(frozen=True)
class Row:
    name: str
    baseline: str
    target: float


ROWS = (
    Row("sign_cavage", "bare sign", 0.9),
    Row("sign_rfc9421", "bare sign", 0.9),
    Row("verify cavage (cached key)", "bare verify", 0.7),
    Row("verify rfc9421 (cached key)", "bare verify", 0.7),
)


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second, timed over at least `seconds` of CPU time (in batches, so
    the clock is read rarely)."""
    calls = 0
    batch = 1
    started = time.process_time()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(batch):
            operation()
        calls += batch
        batch = min(batch * 2, 64)
        elapsed = time.process_time() - started
    return calls / elapsed


def measure(
    ops: dict[str, Callable[[], object]], seconds: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Median rate per operation, and median ratio per ROWS entry, over ROUNDS rounds.

    In each round every operation runs for seconds/ROUNDS, in an order that flips
    every round, and each ratio is taken within its round: an operation and its
    baseline are always measured moments apart, so a busy machine slows both alike.
    """
    names = list(ops)
    rounds: list[dict[str, float]] = []
    for number in range(ROUNDS):
        order = names if number % 2 == 0 else names[::-1]
        rounds.append({name: rate(ops[name], seconds / ROUNDS) for name in order})
    rates = {name: statistics.median(r[name] for r in rounds) for name in names}
    ratios = {
        row.name: statistics.median(r[row.name] / r[row.baseline] for r in rounds) for row in ROWS
    }
    return rates, ratios


def profile(operation: Callable[[], object], calls: int = 20_000) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        operation()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="CPU seconds per operation (default 1)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the verify path"
    )
    args = parser.parse_args(argv)

    fixture = build_fixture()
    ops = operations(fixture)
    for operation in ops.values():  # warm up, and prove every path succeeds
        operation()
    rates, ratios = measure(ops, args.seconds)

    print(
        f"RSA-2048, body {len(fixture.body):,} bytes, "
        f"{args.seconds:g} s CPU per operation in {ROUNDS} interleaved rounds (medians)"
    )
    print()
    header = f"{'operation':<28} {'rate/s':>9} {'baseline':>12} {'rate/s':>9} "
    print(header + f"{'ratio':>6} {'target':>7}  result")
    failed = False
    for name in ("bare sign", "bare verify"):
        print(f"{name:<28} {rates[name]:>9,.0f}")
    for row in ROWS:
        ratio = ratios[row.name]
        ok = ratio >= row.target
        failed |= not ok
        print(
            f"{row.name:<28} {rates[row.name]:>9,.0f} {row.baseline:>12} "
            f"{rates[row.baseline]:>9,.0f} {ratio:>6.2f} {f'>={row.target:g}':>7}  "
            f"{'pass' if ok else 'FAIL'}"
        )
    if args.profile:
        print()
        print("cProfile of 'verify cavage (cached key)', by own time:")
        print(profile(ops["verify cavage (cached key)"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
