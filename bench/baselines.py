"""The baselines every ratio is taken against, measured in the same run as the scenario.

In the runner's own process (on the load core), by CPU time (`time.process_time`, every
thread): bare `cryptography` RSA-2048 sign and verify, bare aiosqlite inserts (WAL,
synchronous=NORMAL, one row per transaction and 1,000 per `executemany`), the raw
ceiling of a signed inbox POST (JSON parse + digest + RSA verify + one insert), and the
floor of a delivery (RSA sign + POST over a pooled keep-alive connection).

In a separate process on the server's core, driven by the same load generator as the
server: the bare aiohttp JSON handler (`bench/bare.py`), GET and POST.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aiosqlite
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bench import fixtures
from bench.harness import BareApp, FakePeers
from bench.harness import best_rate as best_load_rate
from bench.loadgen import Job
from bench.peers import PeerSpec
from bench.procs import MIB, Cores

ROUNDS = 3


def best_rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per CPU-second, best of ROUNDS rounds of `seconds / ROUNDS` each."""
    best = 0.0
    for _ in range(ROUNDS):
        calls, batch = 0, 1
        started = time.process_time()
        elapsed = 0.0
        while elapsed < seconds / ROUNDS:
            for _ in range(batch):
                operation()
            calls += batch
            batch = min(batch * 2, 256)
            elapsed = time.process_time() - started
        best = max(best, calls / elapsed)
    return best


async def _timed_async(work: Callable[[], object], count: int) -> float:
    """CPU seconds for `count` awaits of `work()` (a coroutine function)."""
    started = time.process_time()
    for _ in range(count):
        await work()  # type: ignore[misc]
    return time.process_time() - started


@dataclass
class Baselines:
    """Measured on first use, then kept for the rest of the run."""

    workdir: Path
    cores: Cores
    seconds: float = 1.0
    values: dict[str, float] = field(default_factory=dict)

    def _get(self, name: str, measure: Callable[[], None]) -> float:
        if name not in self.values:
            measure()
        return self.values[name]

    # -- crypto ----------------------------------------------------------------------

    def _crypto(self) -> None:
        key = fixtures.key_pool()[0]
        public = key.public_key()
        message = b"(request-target): post /inbox\nhost: example.com\ndate: x\ndigest: y"
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        signature = key.sign(message, pkcs1, sha256)
        self.values["rsa_sign"] = best_rate(lambda: key.sign(message, pkcs1, sha256), self.seconds)
        self.values["rsa_verify"] = best_rate(
            lambda: public.verify(signature, message, pkcs1, sha256), self.seconds
        )

    def rsa_sign(self) -> float:
        return self._get("rsa_sign", self._crypto)

    def rsa_verify(self) -> float:
        return self._get("rsa_verify", self._crypto)

    # -- sqlite ----------------------------------------------------------------------

    def _sqlite(self) -> None:
        self.values["sqlite_insert_1"], self.values["sqlite_insert_1000"] = asyncio.run(
            self._sqlite_async()
        )

    async def _sqlite_async(self) -> tuple[float, float]:
        with tempfile.TemporaryDirectory(dir=self.workdir) as directory:
            db = await aiosqlite.connect(Path(directory) / "bare.sqlite3", isolation_level=None)
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                await db.execute(
                    "CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT UNIQUE, body TEXT)"
                )
                body = "x" * 2000
                serial = 0

                async def one() -> None:
                    nonlocal serial
                    serial += 1
                    await db.execute(
                        "INSERT INTO items (key, body) VALUES (?, ?)", (f"k{serial}", body)
                    )

                count = 3000
                single = count / await _timed_async(one, count)

                async def thousand() -> None:
                    nonlocal serial
                    rows = [(f"k{serial + i + 1}", body) for i in range(1000)]
                    serial += 1000
                    await db.execute("BEGIN")
                    await db.executemany("INSERT INTO items (key, body) VALUES (?, ?)", rows)
                    await db.execute("COMMIT")

                batched = 20_000 / await _timed_async(thousand, 20)

                async def point() -> None:
                    await db.execute_fetchall("SELECT body FROM items WHERE key = ?", ("k7",))

                self.values["sqlite_select"] = 3000 / await _timed_async(point, 3000)
            finally:
                await db.close()
        return single, batched

    def sqlite_insert_1(self) -> float:
        return self._get("sqlite_insert_1", self._sqlite)

    def sqlite_insert_1000(self) -> float:
        return self._get("sqlite_insert_1000", self._sqlite)

    def sqlite_select(self) -> float:
        """Indexed point SELECTs per CPU-second, one aiosqlite call each: the price of
        one trip to the database thread and back."""
        return self._get("sqlite_select", self._sqlite)

    # -- the raw ceiling of a signed inbox POST ---------------------------------------

    def _ceiling(self) -> None:
        self.values["inbox_ceiling"] = asyncio.run(self._ceiling_async())

    async def _ceiling_async(self) -> float:
        """parse + digest + RSA verify (parsed key reused) + one insert, per CPU-second."""
        key = fixtures.key_pool()[0]
        public = key.public_key()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        count = 1500
        prepared = []
        for serial in range(count):
            body = json.dumps(fixtures.create_note("https://remote.example/users/bob", serial))
            raw = body.encode()
            digest = "SHA-256=" + base64.b64encode(hashlib.sha256(raw).digest()).decode()
            text = f"(request-target): post /inbox\nhost: example.com\ndigest: {digest}"
            prepared.append((raw, digest, text.encode(), key.sign(text.encode(), pkcs1, sha256)))
        with tempfile.TemporaryDirectory(dir=self.workdir) as directory:
            db = await aiosqlite.connect(Path(directory) / "ceiling.sqlite3", isolation_level=None)
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                await db.execute(
                    "CREATE TABLE items (id INTEGER PRIMARY KEY, activity_id TEXT UNIQUE,"
                    " body TEXT)"
                )
                started = time.process_time()
                for raw, digest, message, signature in prepared:
                    document = json.loads(raw)
                    expected = "SHA-256=" + base64.b64encode(hashlib.sha256(raw).digest()).decode()
                    assert expected == digest
                    public.verify(signature, message, pkcs1, sha256)
                    await db.execute(
                        "INSERT INTO items (activity_id, body) VALUES (?, ?)",
                        (document["id"], raw.decode()),
                    )
                elapsed = time.process_time() - started
            finally:
                await db.close()
        return count / elapsed

    def inbox_ceiling(self) -> float:
        return self._get("inbox_ceiling", self._ceiling)

    # -- the floor of one delivery ---------------------------------------------------

    def _delivery_floor(self) -> None:
        peers = FakePeers([PeerSpec()], self.workdir, self.cores)
        try:
            self.values["delivery_floor_cpu"] = asyncio.run(
                self._delivery_floor_async(peers.base_url(0) + "/inbox")
            )
        finally:
            peers.stop()

    async def _delivery_floor_async(self, inbox: str) -> float:
        """CPU seconds per delivery: RSA sign + digest + POST over a pooled keep-alive
        connection, 8 in flight (what the delivery worker cannot do with less)."""
        key = fixtures.key_pool()[0]
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        body = json.dumps(fixtures.create_note("https://example.com/users/alice", 1)).encode()
        count = 1200

        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=8)
        ) as session:

            async def deliver() -> None:
                digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
                date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
                text = f"(request-target): post /inbox\nhost: x\ndate: {date}\ndigest: {digest}"
                signature = base64.b64encode(key.sign(text.encode(), pkcs1, sha256)).decode()
                headers = {
                    "Content-Type": "application/activity+json",
                    "Date": date,
                    "Digest": digest,
                    "Signature": f'keyId="k",headers="(request-target) host date digest",'
                    f'signature="{signature}"',
                }
                async with session.post(inbox, data=body, headers=headers) as response:
                    await response.read()

            async def worker(n: int) -> None:
                for _ in range(n):
                    await deliver()

            await worker(20)  # connections open before the clock starts
            started = time.process_time()
            await asyncio.gather(*(worker(count // 8) for _ in range(8)))
            elapsed = time.process_time() - started
        return elapsed / count

    def delivery_floor_cpu(self) -> float:
        return self._get("delivery_floor_cpu", self._delivery_floor)

    # -- the bare aiohttp app --------------------------------------------------------

    def _bare(self) -> None:
        app = BareApp(self.workdir, self.cores)
        try:
            time.sleep(0.5)
            self.values["bare_rss_mib"] = app.rss() / MIB
            self.values["bare_get"], _ = best_load_rate(
                Job(app.base_url, [fixtures.plain_get("/json")], count=6000, concurrency=8),
                app,
                self.workdir,
                self.cores,
                name="bare-get",
            )
            body = json.dumps(fixtures.create_note("https://remote.example/users/bob", 1)).encode()
            self.values["bare_post"], _ = best_load_rate(
                Job(
                    app.base_url,
                    [("POST", "/inbox", [("Content-Type", "application/activity+json")], body)],
                    count=6000,
                    concurrency=8,
                ),
                app,
                self.workdir,
                self.cores,
                ok=(202,),
                name="bare-post",
            )
        finally:
            app.stop()

    def bare_get(self) -> float:
        return self._get("bare_get", self._bare)

    def bare_post(self) -> float:
        return self._get("bare_post", self._bare)

    def bare_rss_mib(self) -> float:
        return self._get("bare_rss_mib", self._bare)
