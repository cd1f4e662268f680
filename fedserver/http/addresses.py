"""Which addresses and URLs an outbound request may reach. Pure: no I/O.

`address_problem` classifies one IP address against the IANA special-purpose registries
(explicit tables first, because `ipaddress.is_global` on Python 3.11 calls multicast,
6to4 and IPv4-mapped addresses global); `check_url` refuses a URL before any connection
for its scheme, credentials or an IP literal in any of the spellings that `inet_aton`
and browsers accept (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`). Hostnames are never
matched with regexes: they are resolved, and the resolved addresses are checked by
`fedserver.http.resolver.GuardedResolver` at connect time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from yarl import URL

from fedserver.errors import FetchRefused

from .policy import FetchPolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CLOUD_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

# Most specific first. Sources: the IANA IPv4 and IPv6 special-purpose address
# registries, and GoToSocial's internal/netutil/validate.go, which SECURITY.md names as
# the model after CVE-2026-33693 (0.0.0.0 and broadcast missed) and CVE-2026-46348
# (`::` missed).
_V4_TABLE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/32", "an unspecified address"),
    ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared carrier-grade NAT address (100.64.0.0/10)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved IETF protocol address (192.0.0.0/24)"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a deprecated 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
)
_V6_TABLE: tuple[tuple[str, str], ...] = (
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "a deprecated IPv4-compatible address"),
    ("::ffff:0:0:0/96", "an IPv4-translated address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo address"),
    ("2001:2::/48", "a benchmarking address"),
    ("2001:db8::/32", "a documentation address"),
    ("2001::/23", "a reserved IETF protocol address (2001::/23)"),
    ("2002::/16", "a deprecated 6to4 address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment-routing SID (5f00::/16)"),
    ("fc00::/7", "a unique local address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a deprecated site-local address"),
    ("ff00::/8", "a multicast address"),
)
_V4_NETWORKS = tuple((ipaddress.IPv4Network(n), why) for n, why in _V4_TABLE)
_V6_NETWORKS = tuple((ipaddress.IPv6Network(n), why) for n, why in _V6_TABLE)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(address: IPAddress) -> str | None:
    """Why `address` must not be reached, as "a loopback address"; None if it is public.

    >>> address_problem(ipaddress.ip_address("::ffff:127.0.0.1"))
    'an IPv4-mapped form of 127.0.0.1, a loopback address'
    >>> address_problem(ipaddress.ip_address("93.184.216.34")) is None
    True
    """
    if address in _CLOUD_METADATA:
        return "a link-local address (the cloud metadata service)"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 reaches that IPv4 host: judge the inner one.
        if address.ipv4_mapped is not None:
            return _embedded(address.ipv4_mapped, "an IPv4-mapped")
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return _embedded(embedded, "a NAT64")
        address = ipaddress.IPv6Address(int(address))  # drop any %scope
        networks: Iterable[tuple[IPNetwork, str]] = _V6_NETWORKS
    else:
        networks = _V4_NETWORKS
    for network, why in networks:
        if address in network:
            return why
    if not address.is_global:
        return "a non-public address"
    return None


def _embedded(inner: ipaddress.IPv4Address, form: str) -> str | None:
    problem = address_problem(inner)
    if problem is None:
        return None
    return f"{form} form of {inner}, {problem}"


def is_allowed_address(address: IPAddress, policy: FetchPolicy) -> bool:
    """Whether the policy lets a connection go to `address`."""
    if policy.allow_private_addresses:
        return True
    if any(address in network for network in policy.allowed_private_networks):
        return True
    return address_problem(address) is None


def refusal_for_address(address: IPAddress, policy: FetchPolicy) -> str | None:
    """The reason `address` is refused under `policy` ("127.0.0.1 is a loopback
    address"), or None when it is allowed."""
    if is_allowed_address(address, policy):
        return None
    return f"{address} is {address_problem(address)}"


def parse_ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host means in any legacy spelling; None for a domain name.

    Follows the WHATWG URL "ends in a number" and IPv4 parsers, which accept what
    `inet_aton` accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).

    >>> parse_ipv4_host("0x7f.1")
    IPv4Address('127.0.0.1')
    >>> parse_ipv4_host("2130706433")
    IPv4Address('127.0.0.1')
    >>> parse_ipv4_host("example.com") is None
    True

    Raises ValueError for a host that ends in a number but is no valid address
    ("1.2.3.456", "08.1").
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _looks_numeric(parts[-1]):
        return None
    if len(parts) > 4:
        raise ValueError(f"{host!r} has more than 4 numeric parts")
    numbers = [_parse_ipv4_number(part, host) for part in parts]
    *leading, last = numbers
    if any(number > 255 for number in leading):
        raise ValueError(f"{host!r} has a part above 255")
    if last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} ends in a number too large for an IPv4 address")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _looks_numeric(part: str) -> bool:
    if part != "" and part.isascii() and part.isdigit():
        return True
    return part[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in part[2:])


def _parse_ipv4_number(part: str, host: str) -> int:
    if part == "":
        raise ValueError(f"{host!r} has an empty part")
    radix, digits = 10, part
    if part[:2].lower() == "0x":
        radix, digits = 16, part[2:] or "0"
    elif len(part) > 1 and part[0] == "0":
        radix, digits = 8, part[1:]
    if not digits.isascii():
        raise ValueError(f"{host!r} has a non-ASCII digit")
    try:
        return int(digits, radix)
    except ValueError:
        raise ValueError(f"{host!r} has an invalid part {part!r}") from None


def check_url(url: URL, policy: FetchPolicy) -> None:
    """Refuse `url` before connecting: scheme, credentials, IP literals, localhost.

    Raises FetchRefused. Hostnames pass here; their addresses are checked after
    resolution by the guarded resolver.
    """
    if not url.scheme:
        raise FetchRefused(f"refused: {str(url)!r} is not an absolute URL")
    scheme = url.scheme.lower()
    allowed_schemes = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed_schemes:
        only = "http or https" if policy.allow_http else "https only"
        raise FetchRefused(f"refused: scheme {scheme!r} is not allowed ({only})")
    host = url.host
    if not host:
        raise FetchRefused(f"refused: {str(url)!r} has no host")
    if url.user is not None or url.password is not None:
        raise FetchRefused(f"refused: {url.host} URL carries credentials")
    if policy.allow_private_addresses:
        return
    name = host.rstrip(".").lower()
    # RFC 6761 reserves localhost and *.localhost for loopback; resolvers may answer
    # them from /etc/hosts without DNS, so refuse the names themselves.
    if name == "localhost" or name.endswith(".localhost"):
        raise FetchRefused(f"refused: {name} is a loopback name")
    address = _literal_address(name)
    if address is None:
        return
    reason = refusal_for_address(address, policy)
    if reason is None:
        if ":" not in name and name != str(address):
            # Legacy spellings of public addresses are refused too: nothing legitimate
            # sends them, and resolvers disagree on what they mean.
            raise FetchRefused(f"refused: {name} is a non-canonical form of {address}")
        return
    if ":" not in name and name != str(address):
        raise FetchRefused(f"refused: {name} means {reason}")
    raise FetchRefused(f"refused: {reason}")


def _literal_address(name: str) -> IPAddress | None:
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            raise FetchRefused(f"refused: {name!r} is not a valid IPv6 address") from None
    try:
        return parse_ipv4_host(name)
    except ValueError as exc:
        raise FetchRefused(f"refused: {exc}") from None
