"""The pure address policy: special-purpose ranges, URL literals in every spelling."""

from __future__ import annotations

import doctest
import ipaddress
import re

import pytest
from yarl import URL

from fedserver.errors import FetchRefused
from fedserver.http import (
    FetchPolicy,
    address_problem,
    addresses,
    bodies,
    check_url,
    parse_ipv4_host,
)

STRICT = FetchPolicy()
HTTP = FetchPolicy(allow_http=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "a 'this network' address (0.0.0.0/8)"),
        ("10.0.0.1", "a private address"),
        ("100.64.0.1", "a shared carrier-grade NAT address (100.64.0.0/10)"),
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("169.254.169.254", "a link-local address (the cloud metadata service)"),
        ("169.254.1.1", "a link-local address"),
        ("172.16.5.4", "a private address"),
        ("192.0.0.9", "a reserved IETF protocol address (192.0.0.0/24)"),
        ("192.0.2.1", "a documentation address"),
        ("192.168.1.1", "a private address"),
        ("198.18.0.1", "a benchmarking address"),
        ("203.0.113.7", "a documentation address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
        ("255.255.255.255", "the broadcast address"),
        ("::", "an unspecified address"),
        ("::1", "a loopback address"),
        ("::127.0.0.1", "a deprecated IPv4-compatible address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("::ffff:10.1.2.3", "an IPv4-mapped form of 10.1.2.3, a private address"),
        ("64:ff9b::7f00:1", "a NAT64 form of 127.0.0.1, a loopback address"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
        ("2002:7f00:1::1", "a deprecated 6to4 address"),
        ("2001::1", "a Teredo address"),
        ("2001:db8::1", "a documentation address"),
        ("3fff::1", "a documentation address"),
        ("fc00::1", "a unique local address"),
        ("fd00:ec2::254", "a link-local address (the cloud metadata service)"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("fec0::1", "a deprecated site-local address"),
        ("ff02::1", "a multicast address"),
    ],
)
def test_special_purpose_addresses_are_refused(address: str, reason: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_legacy_ipv4_spellings_are_understood(host: str, expected: str) -> None:
    assert parse_ipv4_host(host) == ipaddress.IPv4Address(expected)


@pytest.mark.parametrize("host", ["example.com", "remote.test", "0x.example", "1a"])
def test_domain_names_are_not_ipv4(host: str) -> None:
    assert parse_ipv4_host(host) is None


@pytest.mark.parametrize("host", ["1.2.3.456", "08.1", "1.2.3.4.5", "1..2", "4294967296"])
def test_invalid_numeric_hosts_raise(host: str) -> None:
    with pytest.raises(ValueError, match=r"IPv4|part|number"):
        parse_ipv4_host(host)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "refused: 127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/", "refused: 10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/", "refused: 169.254.169.254 is a link-local"),
        ("http://[::1]/", "refused: ::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "refused: ::ffff:7f00:1 is an IPv4-mapped form"),
        ("http://0.0.0.0/", "refused: 0.0.0.0 is an unspecified address"),
        ("http://[::]/", "refused: :: is an unspecified address"),
        ("http://2130706433/", "refused: 2130706433 means 127.0.0.1 is a loopback"),
        ("http://0x7f.1/", "refused: 0x7f.1 means 127.0.0.1 is a loopback"),
        ("http://0177.0.0.1/", "refused: 0177.0.0.1 means 127.0.0.1 is a loopback"),
        ("http://127.1/", "refused: 127.1 means 127.0.0.1 is a loopback"),
        ("http://localhost/", "refused: localhost is a loopback name"),
        ("http://LOCALHOST./", "refused: localhost is a loopback name"),
        ("http://api.localhost/", "refused: api.localhost is a loopback name"),
        ("http://134744072/", "refused: 134744072 is a non-canonical form of 8.8.8.8"),
        ("http://1.2.3.456/", "refused: '1.2.3.456' ends in a number too large"),
        ("http://1.256.3.4/", "refused: '1.256.3.4' has a part above 255"),
        ("http://user:pw@example.com/", "refused: example.com URL carries credentials"),
    ],
)
def test_check_url_refuses_literals(url: str, message: str) -> None:
    with pytest.raises(FetchRefused, match="^" + re.escape(message)):
        check_url(URL(url), HTTP)


@pytest.mark.parametrize(
    ("url", "policy", "message"),
    [
        (
            "http://example.com/",
            STRICT,
            "refused: scheme 'http' is not allowed (https only)",
        ),
        (
            "ftp://example.com/",
            HTTP,
            "refused: scheme 'ftp' is not allowed (http or https)",
        ),
        ("file:///etc/passwd", HTTP, "refused: scheme 'file' is not allowed"),
        ("data:text/plain,hi", HTTP, "refused: scheme 'data' is not allowed"),
    ],
)
def test_check_url_refuses_schemes(url: str, policy: FetchPolicy, message: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        check_url(URL(url), policy)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/users/a",
        "https://93.184.216.34/",
        "https://[2606:4700::1]/",
    ],
)
def test_check_url_passes_public_urls(url: str) -> None:
    check_url(URL(url), STRICT)


def test_allow_private_addresses_allows_every_address() -> None:
    policy = FetchPolicy(allow_private_addresses=True, allow_http=True)
    for url in ("http://127.0.0.1/", "http://localhost/", "http://[::1]/"):
        check_url(URL(url), policy)


def test_allowed_private_networks_are_exceptions() -> None:
    policy = FetchPolicy(allowed_private_networks=(ipaddress.ip_network("10.9.0.0/16"),))
    check_url(URL("https://10.9.1.1/"), policy)
    with pytest.raises(FetchRefused):
        check_url(URL("https://10.8.1.1/"), policy)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="timeout_seconds must be positive"):
        FetchPolicy(timeout_seconds=0)


@pytest.mark.parametrize("module", [addresses, bodies])
def test_doctests(module: object) -> None:
    failures, _ = doctest.testmod(module)  # type: ignore[arg-type]
    assert failures == 0
