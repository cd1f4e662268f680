"""fedserver.urlparts answers as `urllib.parse.urlsplit` does, on every input."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from fedserver.urlparts import hostname, is_http_url, netloc, scheme_and_netloc

PREFIXES = [
    "http://", "https://", "HTTP://", "Https://", " http://", "\thttp://", "h\nttps://",
    "http:/", "http:", "http:///", "ftp://", "", "//", "https:\t//", "\x00http://", "hxxp://",
]  # fmt: skip
NETLOC_PIECES = [
    "a", "B", "example.com", "Social.Example.COM", ".", ":", ":443", ":x", "@", "user:pw@",
    "[", "]", "[::1]", "[fe80::1%25eTh0]", "%", "%41", " ", "\t", "\n", "\r", "\x00", "\x7f",
    "é", "ｅ", "\u2100", "\u2488", "\uff03", "1", "-", "_", "\\", "~", "'", "xn--bcher-kva",
]  # fmt: skip
TAILS = ["", "/", "/users/a", "?q=1", "#frag", "/p?x#y", " ", "\t", "/\t", "?", "#", "/a b", "\n"]

KNOWN = [
    "https://social.example/users/alice",
    "https://social.example/users/alice#main-key",
    "http://127.0.0.1:8080/inbox",
    "https://user@Example.COM:8443/x",
    "https://a@b@c/",
    "https://[::1]:80/",
    "https://[::1/",
    "https://::1]/",
    "https://[v1.fe]/",
    "https://exa\u2100mple/",
    "https://:443/",
    "https://@/",
    "https:///path",
    "https://",
    "http://x?y",
    "http://x#y/z",
    "HTTPS://UPPER.example/",
    "https://Ex%41MPLE%zZ/",
    "https://exa mple/",
    "https://example.com ",
    "https://exa\tmple.com/",
    "https://b\u00fccher.example/",
    "javascript:alert(1)",
    "mailto:a@b",
    "",
]


def outcome(function: Callable[[str], Any], url: str) -> Any:
    try:
        return function(url)
    except ValueError as exc:
        return ("ValueError", str(exc))


def reference_scheme_and_netloc(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def reference_is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def corpus() -> list[str]:
    rng = random.Random(20261121)
    urls = list(KNOWN)
    ascii_pieces = [p for p in NETLOC_PIECES if p.isascii() and p.isprintable()]
    for _ in range(30_000):
        pieces = rng.choices(NETLOC_PIECES, k=rng.randint(0, 5))
        urls.append(rng.choice(PREFIXES) + "".join(pieces) + rng.choice(TAILS))
        # Mostly the shortcut's shape, with every ASCII oddity in its authority.
        pieces = rng.choices(ascii_pieces, k=rng.randint(0, 6))
        urls.append(rng.choice(PREFIXES[:2]) + "".join(pieces) + rng.choice(TAILS))
    return urls


@pytest.mark.parametrize(
    ("function", "reference"),
    [
        (scheme_and_netloc, reference_scheme_and_netloc),
        (netloc, lambda url: urlsplit(url).netloc),
        (hostname, lambda url: urlsplit(url).hostname),
        (is_http_url, reference_is_http_url),
    ],
)
def test_same_answers_as_urlsplit(
    function: Callable[[str], Any], reference: Callable[[str], Any]
) -> None:
    mismatches = [url for url in corpus() if outcome(function, url) != outcome(reference, url)]
    assert mismatches == []


def test_the_corpus_takes_the_shortcut_and_the_fallback() -> None:
    from fedserver.urlparts import _authority

    shortcut = [url for url in corpus() if _authority(url) is not None]
    assert 10_000 < len(shortcut) < 50_000
    assert _authority("https://social.example/users/alice") == ("https", "social.example")
    for odd in ("HTTPS://a/", "https://[::1]/", "https://a\tb/", "https://é/", "https://a b/"):
        assert _authority(odd) is None
