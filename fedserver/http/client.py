"""`HttpClient`: the one guarded client every outbound request goes through."""

from __future__ import annotations

import asyncio
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
        """
        headers: dict[str, str] = {
            hdrs.CONTENT_TYPE: ACTIVITY_CONTENT_TYPE,
            hdrs.ACCEPT: ACTIVITY_ACCEPT,
        }
        limits = None
        if connect_timeout is not None:
            limits = ClientTimeout(total=self._policy.timeout_seconds, sock_connect=connect_timeout)
        deadline = self._deadline_at()
        async with self._deadline("POST", url, deadline):
            exchange = await self._exchange(
                "POST", url, headers, body, signer, client_timeout=limits
            )
        response = exchange.response
        try:
            # The status is in; a body that stalls or breaks only shortens the log line.
            prefix = b""
            try:
                async with asyncio.timeout_at(deadline):
                    prefix = await read_prefix(response, DELIVERY_BODY_PREFIX_BYTES)
            except (TimeoutError, ClientError):
                pass
        finally:
            response.release()
        assert exchange.scheme is not None  # post_activity always signs
        return DeliveryResult(
            status=response.status,
            retry_after=parse_retry_after(response.headers.get(hdrs.RETRY_AFTER), self._clock()),
            body_prefix=prefix.decode("utf-8", errors="replace"),
            url=str(exchange.url),
            scheme=exchange.scheme,
        )

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
            detail = str(exc) or type(exc).__name__
            raise FetchError(f"{method} {url} failed: {detail}") from exc
        except TimeoutError:
            seconds = self._policy.timeout_seconds
            raise FetchError(f"{method} {url} timed out after {seconds:g} s") from None

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
        written = url.split("#", 1)[0]
        try:
            start = URL(written)
        except ValueError:
            raise FetchRefused(f"refused: {url!r} is not a valid URL") from None
        host = start.host or ""
        scheme = None if signer is None else self._schemes.scheme_for(host)
        exchange = await self._follow(
            method, start, written, headers, body, signer, scheme, same_host, client_timeout
        )
        if scheme != "rfc9421":
            return exchange
        status = exchange.response.status
        if status == 401:
            exchange.response.release()
            self._schemes.rfc9421_rejected(host)
            return await self._follow(
                method, start, written, headers, body, signer, "cavage", same_host, client_timeout
            )
        if 200 <= status < 300:
            self._schemes.rfc9421_accepted(host)
        return exchange

    async def _follow(
        self,
        method: str,
        url: URL,
        written: str,
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
        for hop in range(self._policy.max_redirects + 1):
            check_url(url, self._policy)
            to_send = dict(headers)
            to_send[hdrs.HOST] = url.host_port_subcomponent or ""
            to_send[hdrs.USER_AGENT] = self._policy.user_agent
            if signer is not None and scheme is not None:
                to_send.update(signer(method, str(url), dict(to_send), body, scheme))
            response = await self._session.request(
                method,
                url,
                headers=to_send,
                data=body if method == "POST" else None,
                allow_redirects=False,
                timeout=self._session.timeout if client_timeout is None else client_timeout,
            )
            if response.status not in redirects:
                return _Exchange(response, url, written, scheme)
            location = response.headers.get(hdrs.LOCATION)
            response.release()
            target, written = _redirect_target(method, url, response.status, location)
            if hop == self._policy.max_redirects:
                raise FetchRefused(
                    f"refused: more than {self._policy.max_redirects} redirects "
                    f"(the next would go to {target})"
                )
            if same_host and target.host != url.host:
                raise FetchRefused(
                    f"refused: {url} redirects to another host ({target.host}); "
                    "a document must come from the host it was requested from"
                )
            url = target
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


def _utc_now() -> datetime:
    return datetime.now(UTC)
