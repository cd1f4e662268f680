"""`HttpClient`: the one guarded client every outbound request goes through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiohttp import (
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    DummyCookieJar,
    TCPConnector,
    hdrs,
)
from aiohttp.abc import AbstractResolver
from yarl import URL

from fedserver.errors import FetchError, FetchRefused

from .addresses import check_url
from .bodies import parse_json_object, parse_retry_after, read_capped, read_prefix
from .knocking import SchemeMemory
from .policy import (
    ACTIVITY_ACCEPT,
    ACTIVITY_CONTENT_TYPE,
    ACTIVITY_CONTENT_TYPES,
    JRD_ACCEPT,
    JRD_CONTENT_TYPES,
    FetchPolicy,
    SignatureScheme,
    Signer,
)
from .resolver import GuardedResolver

#: How much of a delivery response body is kept for logs.
DELIVERY_BODY_PREFIX_BYTES = 1024

_GET_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A POST is re-sent (and re-signed) on these; 303 means "GET something else", which
# makes no sense for an inbox, so it is returned to the delivery queue as is.
_POST_REDIRECTS = frozenset({301, 302, 307, 308})
#: The headers of every delivery (Host, User-Agent and the signature's are added per hop).
_POST_HEADERS: Mapping[str, str] = {
    hdrs.CONTENT_TYPE: ACTIVITY_CONTENT_TYPE,
    hdrs.ACCEPT: ACTIVITY_ACCEPT,
}
#: Start URLs kept parsed and checked (`HttpClient._start_url`).
_TARGET_CACHE_SIZE = 4096


class FetchStatusError(FetchError):
    """A document was expected and the remote answered a non-2xx status.

    `response_status` is the remote's status (`status` stays the 502 we answer with).
    """

    def __init__(self, method: str, url: str, response_status: int, reason: str) -> None:
        super().__init__(f"{method} {url} answered {response_status} {reason}".rstrip())
        self.response_status = response_status

    @property
    def is_gone(self) -> bool:
        """404 or 410: the document is not there (as opposed to a failing server)."""
        return self.response_status in (404, 410)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What an inbox answered to one POST. Statuses are data here, never exceptions."""

    status: int
    #: Seconds to wait before retrying, from `Retry-After`, or None.
    retry_after: float | None
    #: Up to DELIVERY_BODY_PREFIX_BYTES of the response body, for logs.
    body_prefix: str
    #: The URL that answered (after redirects).
    url: str
    #: The signature scheme of the request that got this answer.
    scheme: SignatureScheme

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class FetchedBody:
    """A non-document body (media): bytes plus the type the remote claimed."""

    url: str
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Exchange:
    response: ClientResponse
    url: URL  # where the final response came from
    written: str  # that URL as the caller or the Location header wrote it
    scheme: SignatureScheme | None
    url_text: str  # str(url)


@dataclass(frozen=True, slots=True)
class _Target:
    """One hop's URL, checked by `check_url`, with what sending to it needs."""

    url: URL
    written: str  # as the caller or the Location header wrote it, fragment dropped
    text: str  # str(url): what is signed
    host: str
    host_header: str

    @classmethod
    def of(cls, url: URL, written: str, policy: FetchPolicy) -> _Target:
        check_url(url, policy)  # FetchRefused: no connection is made
        return cls(url, written, str(url), url.host or "", url.host_port_subcomponent or "")


class HttpClient:
    """Guarded outbound HTTP: address guard, manual redirects, caps, total deadline.

    Construct it inside a running loop (an async fixture, or `http_ctx`) and
    `await client.close()` it. It builds its own session: the address guard lives in
    that session's resolver, so a session from elsewhere is never accepted.
    `resolver` is wrapped, never trusted: tests pass a fake one, production None (the
    default resolver).
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: AbstractResolver | None = None,
        schemes: SchemeMemory | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._policy = policy
        self._schemes = SchemeMemory() if schemes is None else schemes
        self._clock = clock or _utc_now
        self._targets: dict[str, _Target] = {}
        self._post_timeouts: dict[float | None, ClientTimeout] = {}
        connector = TCPConnector(
            resolver=GuardedResolver(policy, resolver),
            limit=policy.max_connections,
            limit_per_host=policy.max_connections_per_host,
            keepalive_timeout=policy.keepalive_seconds,
        )
        self._session = ClientSession(
            connector=connector,
            # Backstop only: every call runs under its own total deadline.
            timeout=ClientTimeout(total=policy.timeout_seconds),
            cookie_jar=DummyCookieJar(),  # no per-remote state to grow or leak
            trust_env=False,  # an environment proxy would bypass the address guard
            raise_for_status=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def policy(self) -> FetchPolicy:
        return self._policy

    @property
    def closed(self) -> bool:
        return self._session.closed

    def mark_rfc9421_supported(self, host: str) -> None:
        """`host` advertises RFC 9421 (FEP-844e): sign for it with RFC 9421 first."""
        self._schemes.mark_rfc9421_supported(host)

    def scheme_for(self, host: str) -> SignatureScheme:
        """The signature scheme the next request to `host` will try first."""
        return self._schemes.scheme_for(host)

    async def fetch_document(
        self, url: str, *, signer: Signer | None = None, require_id: bool = True
    ) -> dict[str, Any]:
        """An ActivityStreams document whose `id` is the URL it was fetched from.

        Redirects stay on the requested host and the id must equal the final URL (a
        fragment in `url` is not sent nor compared). Raises FetchRefused (policy),
        FetchStatusError (non-2xx) and FetchError (timeout, size, content type, JSON,
        id).

        `require_id=False` is only for key documents, which GoToSocial serves as a stub
        of the owner (its id is the actor's, not the key URL's): the caller must then
        confirm ownership by fetching the owner by its own id (SECURITY.md R2).
        """
        policy = self._policy
        async with self._deadline("GET", url):
            exchange = await self._exchange(
                "GET", url, {hdrs.ACCEPT: ACTIVITY_ACCEPT}, b"", signer, same_host=True
            )
            try:
                body = await self._read_document(
                    exchange, ACTIVITY_CONTENT_TYPES, policy.max_document_bytes
                )
            finally:
                exchange.response.release()
        document = parse_json_object(body, str(exchange.url))
        document_id = document.get("id")
        if require_id and document_id not in (exchange.written, str(exchange.url)):
            # Mastodon CVE-2024-23832, Misskey CVE-2024-25636: never trust a
            # self-reported id.
            raise FetchError(
                f"document id {document_id!r} does not match requested URL {exchange.written!r}"
            )
        return document

    async def fetch_json(
        self,
        url: str,
        *,
        accept: str = JRD_ACCEPT,
        content_types: Collection[str] = JRD_CONTENT_TYPES,
        signer: Signer | None = None,
    ) -> dict[str, Any]:
        """A JSON object (WebFinger JRD, NodeInfo): same guards and caps, no id rule,
        and redirects may change host (each hop is still checked)."""
        async with self._deadline("GET", url):
            exchange = await self._exchange(
                "GET", url, {hdrs.ACCEPT: accept}, b"", signer, same_host=False
            )
            try:
                body = await self._read_document(
                    exchange, content_types, self._policy.max_document_bytes
                )
            finally:
                exchange.response.release()
        return parse_json_object(body, str(exchange.url))

    async def fetch_bytes(
        self, url: str, *, accept: str = "*/*", signer: Signer | None = None
    ) -> FetchedBody:
        """Any body (media) up to `max_response_bytes`; the caller judges the type."""
        async with self._deadline("GET", url):
            exchange = await self._exchange(
                "GET", url, {hdrs.ACCEPT: accept}, b"", signer, same_host=False
            )
            response = exchange.response
            try:
                self._require_success(exchange)
                body = await read_capped(response, self._policy.max_response_bytes)
            finally:
                response.release()
        return FetchedBody(str(exchange.url), response.content_type, body)

    async def post_activity(
        self,
        url: str,
        body: bytes,
        *,
        signer: Signer,
        connect_timeout: float | None = None,
    ) -> DeliveryResult:
        """Deliver `body` to an inbox, signed. An HTTP status is a result, not an error.

        RFC 9421 first for hosts known to support it, draft-cavage again on a 401.
        `connect_timeout` bounds opening a new connection (a blackholed host then fails
        in that time, not the whole deadline); a pooled connection is reused when one is
        idle. Raises FetchRefused (policy) and FetchError (connection failure, timeout).

        This is the fan-out's hot path (once per inbox): one deadline covers the request
        and the read of the answer's first bytes, and aiohttp gets no deadline timer of
        its own (`_post_timeout`): the total deadline is ours.
        """
        response: ClientResponse | None = None
        prefix = b""
        try:
            async with asyncio.timeout_at(self._deadline_at()):
                exchange = await self._exchange(
                    "POST",
                    url,
                    _POST_HEADERS,
                    body,
                    signer,
                    client_timeout=self._post_timeout(connect_timeout),
                )
                response = exchange.response
                # The status is in; a body that breaks only shortens the log line.
                with contextlib.suppress(ClientError):
                    prefix = await read_prefix(response, DELIVERY_BODY_PREFIX_BYTES)
        except ClientError as exc:  # before TimeoutError: a connect timeout is both
            raise _client_failure("POST", url, exc) from exc
        except TimeoutError:
            if response is None:
                raise self._timed_out("POST", url) from None
            # The deadline passed while reading the body: the status stands.
        finally:
            if response is not None:
                response.release()
        assert exchange.scheme is not None  # post_activity always signs
        retry_after = response.headers.get(hdrs.RETRY_AFTER)
        return DeliveryResult(
            status=response.status,
            retry_after=None
            if retry_after is None
            else parse_retry_after(retry_after, self._clock()),
            body_prefix=prefix.decode("utf-8", errors="replace") if prefix else "",
            url=exchange.url_text,
            scheme=exchange.scheme,
        )

    def _post_timeout(self, connect_timeout: float | None) -> ClientTimeout:
        """aiohttp's timeouts for a POST: no total (the caller's deadline is the total,
        so aiohttp need not arm a second timer per request), `sock_connect` as asked."""
        limits = self._post_timeouts.get(connect_timeout)
        if limits is None:
            limits = ClientTimeout(total=None, sock_connect=connect_timeout)
            if len(self._post_timeouts) < 16:
                self._post_timeouts[connect_timeout] = limits
        return limits

    def _timed_out(self, method: str, url: str) -> FetchError:
        return FetchError(f"{method} {url} timed out after {self._policy.timeout_seconds:g} s")

    def _deadline_at(self) -> float:
        return asyncio.get_running_loop().time() + self._policy.timeout_seconds

    @asynccontextmanager
    async def _deadline(
        self, method: str, url: str, deadline: float | None = None
    ) -> AsyncIterator[None]:
        """One total deadline for a call (CVE-2023-36461: per-read timeouts let a
        1 byte/s server hold a worker forever); aiohttp errors become FetchError."""
        try:
            async with asyncio.timeout_at(self._deadline_at() if deadline is None else deadline):
                yield
        except ClientError as exc:  # before TimeoutError: a connect timeout is both
            raise _client_failure(method, url, exc) from exc
        except TimeoutError:
            raise self._timed_out(method, url) from None

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        signer: Signer | None,
        *,
        same_host: bool = False,
        client_timeout: ClientTimeout | None = None,
    ) -> _Exchange:
        """Send, following redirects; with RFC 9421 first, knock again with cavage."""
        start = self._start_url(url)
        host = start.host
        scheme = None if signer is None else self._schemes.scheme_for(host)
        exchange = await self._follow(
            method, start, headers, body, signer, scheme, same_host, client_timeout
        )
        if scheme != "rfc9421":
            return exchange
        status = exchange.response.status
        if status == 401:
            exchange.response.release()
            self._schemes.rfc9421_rejected(host)
            return await self._follow(
                method, start, headers, body, signer, "cavage", same_host, client_timeout
            )
        if 200 <= status < 300:
            self._schemes.rfc9421_accepted(host)
        return exchange

    def _start_url(self, url: str) -> _Target:
        """`url` parsed and passed by `check_url`, from a bounded cache: a fan-out sends
        to the same inboxes post after post. `check_url` is pure (the URL and this
        client's policy), so its verdict holds for the string; the addresses are still
        checked at connect time, and every redirect hop is checked anew."""
        target = self._targets.get(url)
        if target is None:
            written = url.split("#", 1)[0]
            try:
                parsed = URL(written)
            except ValueError:
                raise FetchRefused(f"refused: {url!r} is not a valid URL") from None
            target = _Target.of(parsed, written, self._policy)
            if len(self._targets) >= _TARGET_CACHE_SIZE:
                del self._targets[next(iter(self._targets))]  # the oldest first
            self._targets[url] = target
        return target

    async def _follow(
        self,
        method: str,
        start: _Target,
        headers: Mapping[str, str],
        body: bytes,
        signer: Signer | None,
        scheme: SignatureScheme | None,
        same_host: bool,
        client_timeout: ClientTimeout | None = None,
    ) -> _Exchange:
        """Send and follow at most `max_redirects` redirects, checking and signing each
        hop (Fedify CVE-2026-77632: a redirect to loopback; Akkoma 2025.10: re-sign)."""
        redirects = _POST_REDIRECTS if method == "POST" else _GET_REDIRECTS
        policy = self._policy
        timeout = self._session.timeout if client_timeout is None else client_timeout
        data = body if method == "POST" else None
        target = start  # checked by `_start_url`; every later hop by `_Target.of`
        for hop in range(policy.max_redirects + 1):
            to_send = dict(headers)
            to_send[hdrs.HOST] = target.host_header
            to_send[hdrs.USER_AGENT] = policy.user_agent
            if signer is not None and scheme is not None:
                to_send.update(signer(method, target.text, to_send, body, scheme))
            response = await self._session.request(
                method,
                target.url,
                headers=to_send,
                data=data,
                allow_redirects=False,
                timeout=timeout,
            )
            if response.status not in redirects:
                return _Exchange(response, target.url, target.written, scheme, target.text)
            location = response.headers.get(hdrs.LOCATION)
            response.release()
            url = target.url
            next_url, written = _redirect_target(method, url, response.status, location)
            if hop == policy.max_redirects:
                raise FetchRefused(
                    f"refused: more than {policy.max_redirects} redirects "
                    f"(the next would go to {next_url})"
                )
            if same_host and next_url.host != url.host:
                raise FetchRefused(
                    f"refused: {url} redirects to another host ({next_url.host}); "
                    "a document must come from the host it was requested from"
                )
            target = _Target.of(next_url, written, policy)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _read_document(
        self, exchange: _Exchange, content_types: Collection[str], cap: int
    ) -> bytes:
        self._require_success(exchange)
        content_type = exchange.response.content_type
        if content_type not in content_types:
            allowed = " or ".join(sorted(content_types))
            raise FetchError(
                f"{exchange.url} answered Content-Type {content_type!r}, not {allowed}"
            )
        return await read_capped(exchange.response, cap)

    @staticmethod
    def _require_success(exchange: _Exchange) -> None:
        response = exchange.response
        if not 200 <= response.status < 300:
            raise FetchStatusError(
                response.method,
                str(exchange.url),
                response.status,
                response.reason or "",
            )


def _redirect_target(method: str, url: URL, status: int, location: str | None) -> tuple[URL, str]:
    """The next hop of a redirect, and how the Location header wrote it."""
    if not location:
        raise FetchError(f"{method} {url} answered {status} without a Location")
    written = location.split("#", 1)[0]
    try:
        relative = URL(written)
        target = url.join(relative)
    except ValueError:
        raise FetchError(f"{method} {url} redirects to an invalid URL {location!r}") from None
    return target, written if relative.absolute else str(target)


def _client_failure(method: str, url: str, exc: ClientError) -> FetchError:
    detail = str(exc) or type(exc).__name__
    return FetchError(f"{method} {url} failed: {detail}")


def _utc_now() -> datetime:
    return datetime.now(UTC)
