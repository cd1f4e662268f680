"""The HTML profile page: hostile names, bios, fields and posts are escaped or sanitised,
and every page carries its security headers."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from fedserver.db import LocalUser
from tests.conftest import Client, CreateUser, Rows

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"
HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(1)>"
HOSTILE_HTML = (
    "<p>hello</p>"
    "<script>alert('bio')</script>"
    '<img src="x" onerror="alert(2)">'
    '<a href="javascript:alert(3)">click</a>'
    '<iframe src="https://evil.test/"></iframe>'
    '<p style="position:fixed">styled</p>'
    '<p onclick="alert(4)">clicky</p>'
)


class Elements(HTMLParser):
    """Every element of a page, with its attributes, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def assert_no_active_content(html: str) -> None:
    """No script, frame, event handler, inline style or javascript: URL anywhere."""
    page = Elements(html)
    assert not page.tags() & {"script", "iframe", "object", "embed", "style"}
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            assert "javascript:" not in (value or "").lower(), (tag, name)


@pytest.fixture
async def alice(make_user: CreateUser) -> LocalUser:
    return await make_user("alice")


async def profile(client: Client, path: str = "/@alice") -> str:
    response = await client.get(path, headers={"Accept": BROWSER})
    assert response.status == 200
    assert response.content_type == "text/html"
    return await response.text()


async def test_hostile_display_name_is_escaped(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.update_account(alice.account.id, display_name=HOSTILE_NAME)

    html = await profile(app_client)

    assert "<script" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<h1>&lt;script&gt;" in html
    assert_no_active_content(html)


async def test_hostile_summary_is_sanitised_and_safe_html_kept(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.update_account(alice.account.id, summary=HOSTILE_HTML)

    html = await profile(app_client)

    for forbidden in ("<script", "onerror", "onclick", "javascript:", "<iframe", "style="):
        assert forbidden not in html, forbidden
    assert "<p>hello</p>" in html
    assert "<p>styled</p>" in html
    assert "alert(" not in html
    assert_no_active_content(html)


async def test_hostile_profile_fields_are_escaped_and_sanitised(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.update_account(
        alice.account.id,
        fields=[
            {"name": "<script>alert(5)</script>", "value": HOSTILE_HTML},
            {"name": "Site", "value": '<a href="https://alice.test/">alice.test</a>'},
        ],
    )

    html = await profile(app_client)

    assert "<dt>&lt;script&gt;alert(5)&lt;/script&gt;</dt>" in html
    for forbidden in ("<script", "onerror", "javascript:", "<iframe", "style="):
        assert forbidden not in html, forbidden
    assert_no_active_content(html)
    links = [attrs for tag, attrs in Elements(html).elements if tag == "a"]
    [site] = [attrs for attrs in links if attrs.get("href") == "https://alice.test/"]
    assert "nofollow" in (site.get("rel") or "")


async def test_hostile_status_content_is_sanitised_on_the_page(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.status(alice.account.id, HOSTILE_HTML, spoiler_text="<script>cw</script>")

    html = await profile(app_client)

    for forbidden in ("<script", "onerror", "javascript:", "<iframe", "style="):
        assert forbidden not in html, forbidden
    assert "&lt;script&gt;cw&lt;/script&gt;" in html
    assert "<p>hello</p>" in html
    assert_no_active_content(html)


async def test_private_statuses_are_not_on_the_page(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.status(alice.account.id, "<p>for everyone</p>")
    await rows.status(alice.account.id, "<p>for followers</p>", visibility="private")
    await rows.status(alice.account.id, "<p>for bob</p>", visibility="direct")

    html = await profile(app_client)

    assert "for everyone" in html
    assert "for followers" not in html
    assert "for bob" not in html


async def test_page_shows_counts(app_client: Client, alice: LocalUser, rows: Rows) -> None:
    await rows.status(alice.account.id)
    for name in ("a", "b"):
        await rows.follow(await rows.remote_account(name), alice.account.id)
    await rows.follow(alice.account.id, await rows.remote_account("c"))

    html = await profile(app_client)

    assert "1 posts · 1 following · 2 followers" in html


async def test_profile_pages_link_to_older_posts(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    for number in range(21):
        await rows.status(alice.account.id, f"<p>post number {number}.</p>")

    html = await profile(app_client)
    assert "post number 20." in html
    assert "post number 0." not in html
    [older] = [
        href
        for tag, attrs in Elements(html).elements
        if tag == "a" and (href := attrs.get("href") or "") and "max_id=" in href
    ]
    assert older.startswith("http://local.test/@alice?max_id=")

    html = await profile(app_client, older.removeprefix("http://local.test"))
    assert "post number 0." in html
    assert "post number 1." not in html


@pytest.mark.parametrize("path", ["/@alice", "/users/alice", "/", "/authorize_interaction"])
async def test_pages_carry_security_headers(
    app_client: Client, alice: LocalUser, path: str
) -> None:
    response = await app_client.get(path, headers={"Accept": BROWSER})
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # no script at all: default-src 'none' covers it
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_interaction_page_escapes_its_uri(app_client: Client) -> None:
    response = await app_client.get(
        "/authorize_interaction", params={"uri": "<script>alert(1)</script>"}
    )
    html = await response.text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
