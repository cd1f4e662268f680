"""Plain text of a local post → HTML with links, mentions and hashtags (pure).

What people type is escaped first, then URLs, `@user` / `@user@host` mentions and
`#hashtags` become links, paragraphs and line breaks as Mastodon renders them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

# A mention: @user or @user@host, not inside a word (e-mail addresses stay text).
MENTION_RE = re.compile(
    r"(?<![\w/@])@(?P<user>[a-zA-Z0-9_]+(?:[a-zA-Z0-9_.-]*[a-zA-Z0-9_])?)"
    r"(?:@(?P<host>[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}(?::\d+)?|[a-zA-Z0-9-]+(?::\d+)?))?"
)
HASHTAG_RE = re.compile(r"(?<![\w/&#])#(?P<tag>[^\W\d][\w]{0,99}|\d+[^\W\d]\w*)", re.UNICODE)
URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


@dataclass(frozen=True)
class MentionTarget:
    """How a mention links: to the account's profile URL, shown as @user."""

    url: str
    username: str


def extract_mentions(text: str, local_domain: str) -> list[str]:
    """The accounts mentioned, as `user@host` (host = ours when not given), in order.

    >>> extract_mentions("hi @bob@b.example and @carol!", "a.example")
    ['bob@b.example', 'carol@a.example']
    """
    found: dict[str, None] = {}
    for match in MENTION_RE.finditer(text):
        host = (match.group("host") or local_domain).lower()
        found.setdefault(f"{match.group('user')}@{host}", None)
    return list(found)


def extract_hashtags(text: str) -> list[str]:
    found: dict[str, None] = {}
    for match in HASHTAG_RE.finditer(text):
        found.setdefault(match.group("tag").lower(), None)
    return list(found)


def render_html(
    text: str,
    *,
    local_domain: str,
    mentions: Mapping[str, MentionTarget],
    tag_url: str,
) -> str:
    """Escape and link; `mentions` maps `user@host` to its target (unknown ones stay text).
    `tag_url` is the tag page prefix, e.g. `https://example.com/tags/`."""
    paragraphs = [p for p in re.split(r"\n{2,}", text.strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = [
            _link_line(line, local_domain, mentions, tag_url) for line in paragraph.split("\n")
        ]
        rendered.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(rendered)


def _link_line(
    line: str, local_domain: str, mentions: Mapping[str, MentionTarget], tag_url: str
) -> str:
    pattern = re.compile(f"{URL_RE.pattern}|{MENTION_RE.pattern}|{HASHTAG_RE.pattern}")
    out = []
    position = 0
    for match in pattern.finditer(line):
        out.append(html.escape(line[position : match.start()]))
        token = match.group(0)
        out.append(_link(token, match, local_domain, mentions, tag_url))
        position = match.end()
    out.append(html.escape(line[position:]))
    return "".join(out)


def _link(
    token: str,
    match: re.Match[str],
    local_domain: str,
    mentions: Mapping[str, MentionTarget],
    tag_url: str,
) -> str:
    if token.startswith("@") and match.group("user"):
        key = f"{match.group('user')}@{(match.group('host') or local_domain).lower()}"
        target = mentions.get(key)
        if target is None:
            return html.escape(token)
        return (
            f'<span class="h-card"><a href="{html.escape(target.url)}" class="u-url mention">'
            f"@<span>{html.escape(target.username)}</span></a></span>"
        )
    if token.startswith("#") and match.group("tag"):
        tag = match.group("tag")
        return (
            f'<a href="{html.escape(tag_url + tag.lower())}" class="mention hashtag" rel="tag">'
            f"#<span>{html.escape(tag)}</span></a>"
        )
    link = html.escape(token)
    return f'<a href="{link}" rel="nofollow noopener noreferrer">{link}</a>'
