"""SECURITY.md checklist 23: files we serve are never ActivityStreams documents, whatever
the Accept header, and nothing is sniffed. (User uploads do not exist yet; the static
files are the only files served.)"""

from __future__ import annotations

import pytest

from tests.conftest import Client

AS_ACCEPTS = [
    "application/activity+json",
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
]


@pytest.mark.parametrize("accept", AS_ACCEPTS)
@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/avatar.png", "image/png"), ("/static/style.css", "text/css")],
)
async def test_static_files_keep_their_type_for_peers(
    app_client: Client, path: str, content_type: str, accept: str
) -> None:
    response = await app_client.get(path, headers={"Accept": accept})
    assert response.status == 200
    assert response.content_type == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_every_response_forbids_sniffing(app_client: Client) -> None:
    for path in ("/", "/nodeinfo/2.1", "/no/such/page", "/.well-known/webfinger"):
        response = await app_client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
