"""sanitize_html with a prebuilt nh3.Cleaner gives what nh3.clean with the same options
gives, on hostile and ordinary markup alike."""

from __future__ import annotations

import random

import nh3

from fedserver import sanitize
from fedserver.sanitize import sanitize_html

SAMPLES = [
    "",
    "plain text",
    "a & b < c > d \"e\" 'f' \u00a0 \r\n \x00 end",
    '<p onclick="x()">hi<script>alert(1)</script></p>',
    '<p><span class="h-card"><a href="https://a.example/@b" class="u-url mention evil">'
    "@<span>b</span></a></span> text</p>",
    '<a href="javascript:alert(1)">x</a><a href="matrix:u/x">m</a><a href="/relative">r</a>',
    '<a href="https://x.example" rel="me" target="_blank" translate="no">x</a>',
    "<img src=x onerror=alert(1)><svg><script>1</script></svg><style>p{}</style>",
    "<!-- comment --><p>after</p><![CDATA[x]]>",
    "<p>unclosed <b>bold <i>both</p> after",
    "<table><tr><td>cell</td></tr></table><iframe src=https://x></iframe>",
    '<span class="invisible">https://</span><span class="ellipsis">x</span>',
    "&lt;escaped&gt; &amp;amp; &#39; &#x27; &nbsp; &bogus; &",
    "<pre><code>if a < b &amp;&amp; c</code></pre><blockquote>q</blockquote>",
    "<ul><li>1<ol><li>2</li></ol></li></ul><br/><br>",
    "<math><mi xlink:href=x>m</mi></math><noscript><p title='</noscript><img src=x>'>",
]
PIECES = [
    "<p>", "</p>", "<a href=\"https://e.example/x?a=1&b=2\">", "</a>", "<span class=\"h-card\">",
    "</span>", "<br>", "<script>", "</script>", "<!--", "-->", "&amp;", "&", "<", ">", "\"",
    "'", "text", " ", "\n", "\u00a0", "\u202e", "é", "🎉", "<b>", "</i>", "<img src=x>",
    "<a href='javascript:x'>", "<style>", "</style>", "<code>", "<svg>", "<math>", "=",
]  # fmt: skip


def reference(html: str) -> str:
    return nh3.clean(html, **sanitize._OPTIONS)


def test_cleaner_equals_clean_on_samples_and_random_markup() -> None:
    rng = random.Random(11)
    inputs = list(SAMPLES)
    inputs += ["".join(rng.choices(PIECES, k=rng.randint(1, 40))) for _ in range(5_000)]
    assert [html for html in inputs if sanitize_html(html) != reference(html)] == []


def test_options_are_mastodons_allow_list() -> None:
    cleaned = sanitize_html(
        '<p><a href="https://x.example" class="mention evil" onclick="x">y</a>'
        '<span class="invisible bad">z</span><script>1</script></p>'
    )
    assert cleaned == (
        '<p><a href="https://x.example" class="mention" rel="nofollow noopener noreferrer">'
        'y</a><span class="invisible">z</span></p>'
    )
