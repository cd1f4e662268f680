"""The load generator: an aiohttp client in its own process.

    python -m bench.loadgen JOB.pickle RESULT.json

The job (a `Job`, pickled by the runner) holds prepared requests: signing happens before
the measured window, in the runner. The process loads the job, prints `ready`, waits for
one line on stdin (the runner reads the server's CPU time in between), sends, writes the
result as JSON and prints `done`. It never loops unbounded: at most `count` requests and
never past `deadline_seconds`.

Closed loop (`rate` None): `concurrency` workers, each sending its next request when the
previous one is answered (throughput). Open loop (`rate` given): requests start on a fixed
schedule, at most `concurrency` outstanding, and latency is counted from the scheduled
time, so a stalled server cannot hide its queueing (latency at a given load).
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

#: (method, path and query, headers, body)
Request = tuple[str, str, list[tuple[str, str]], bytes]


@dataclass
class Job:
    base_url: str
    requests: list[Request]
    #: Requests to send: the list is cycled when it is shorter.
    count: int
    concurrency: int = 16
    #: Requests per second (open loop); None: closed loop.
    rate: float | None = None
    deadline_seconds: float = 60.0


@dataclass
class Result:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0
    timed_out: bool = False

    def as_json(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        return {
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "elapsed": self.elapsed,
            "cpu": self.cpu,
            "timed_out": self.timed_out,
            "latency_ms": {
                "p50": percentile(ordered, 50) * 1000,
                "p90": percentile(ordered, 90) * 1000,
                "p99": percentile(ordered, 99) * 1000,
                "max": (ordered[-1] if ordered else 0.0) * 1000,
            },
        }


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def _send(
    session: aiohttp.ClientSession, base: str, request: Request, result: Result, started: float
) -> None:
    method, path, headers, body = request
    try:
        async with session.request(
            method, base + path, headers=headers, data=body if body else None
        ) as response:
            await response.read()
            result.statuses[str(response.status)] += 1
    except (aiohttp.ClientError, OSError) as exc:
        result.statuses[type(exc).__name__] += 1
    result.latencies.append(time.perf_counter() - started)


async def run(job: Job) -> Result:
    result = Result()
    connector = aiohttp.TCPConnector(limit=job.concurrency, limit_per_host=job.concurrency)
    timeout = aiohttp.ClientTimeout(total=job.deadline_seconds)
    requests = job.requests
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = started + job.deadline_seconds
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < job.count and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                await _send(
                    session,
                    job.base_url,
                    requests[index % len(requests)],
                    result,
                    time.perf_counter(),
                )

        async def scheduled(rate: float) -> None:
            limit = asyncio.Semaphore(job.concurrency)
            tasks = set()
            for index in range(job.count):
                at = started + index / rate
                if at >= deadline:
                    break
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await limit.acquire()

                async def one(request: Request, at: float) -> None:
                    try:
                        await _send(session, job.base_url, request, result, at)
                    finally:
                        limit.release()

                task = asyncio.create_task(one(requests[index % len(requests)], at))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

        try:
            async with asyncio.timeout(job.deadline_seconds + 5):
                if job.rate is None:
                    await asyncio.gather(*(worker() for _ in range(job.concurrency)))
                else:
                    await scheduled(job.rate)
        except TimeoutError:
            result.timed_out = True
        result.elapsed = time.perf_counter() - started
        result.cpu = time.process_time() - cpu_started
        result.sent = len(result.latencies)
        result.timed_out |= result.sent < job.count
    return result


def main() -> None:
    job_path, result_path = sys.argv[1], sys.argv[2]
    with open(job_path, "rb") as file:
        job: Job = pickle.load(file)
    print("ready", flush=True)
    sys.stdin.readline()
    result = asyncio.run(run(job))
    with open(result_path, "w") as file:
        json.dump(result.as_json(), file)
    print("done", flush=True)


if __name__ == "__main__":
    main()
