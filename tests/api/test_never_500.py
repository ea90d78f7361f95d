"""Garbage in, 4xx out: no body, query or path the API can be sent answers with a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from content.models import ContentItem
from markets.models import Market
from tests.api.conftest import db_state
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db

GARBAGE: list[Any] = [
    None,
    [],
    "text",
    12,
    {"state": {"nested": [1]}},
    {"items": [None]},
    {"content_ids": None, "state": "hidden"},
    {"content_ids": [["a"]], "state": "hidden"},
    {"action": "hide", "match_tags": [{"a": 1}]},
    {"state": "promoted", "boost": 10**30},
    {"state": "pinned", "slot": -1},
    {"state": "hidden", "starts_at": "0001-01-01T00:00:00+23:59"},
    {"state": "hidden", "ends_at": "9999-12-31T23:59:59-23:59"},
    {"action": "hide", "match_tags": ["hunting"], "starts_at": "0001-01-01T00:00:00+23:59"},
    {"name": "x\u0000y", "slug": "a\u0000b", "title": "\u0000"},
    {"add": ["\u0000"], "remove": None},
    {"items": [{"upstream_id": "u\u0000", "published_at": "0001-01-01T00:00:00+23:59"}]},
    {"timezone": "\u0000", "languages": ["\u0000"]},
    {"days": 10**20, "name": "n"},
    {"expires_at": "9999-12-31T23:59:59-23:59", "name": "n"},
]

WRITES = [
    ("patch", "/api/v1/markets/AU/"),
    ("post", "/api/v1/markets/AU/rules/"),
    ("put", "/api/v1/markets/AU/rules/{rule}/"),
    ("patch", "/api/v1/markets/AU/rules/{rule}/"),
    ("post", "/api/v1/content/bulk-upsert/"),
    ("post", "/api/v1/content/vid-ocean/tags/"),
    ("post", "/api/v1/tags/"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/"),
    ("post", "/api/v1/markets/AU/positions/bulk/"),
    ("post", "/api/v1/tokens/"),
]

READS = [
    "/api/v1/markets/%00/",
    "/api/v1/markets/AU%00/rules/",
    "/api/v1/markets/AU/positions/%00/",
    "/api/v1/content/%00/",
    "/api/v1/content/?q=%00",
    "/api/v1/content/?tag=%00",
    "/api/v1/content/?market=%00&state=hidden",
    "/api/v1/content/?published_after=0001-01-01T00:00:00%2B23:59",
    "/api/v1/content/?published_before=9999-12-31T23:59:59-23:59",
    "/api/v1/content/?cursor=garbage",
    "/api/v1/markets/AU/positions/?state=%00",
    "/api/v1/markets/AU/resolve?content_id=%00",
    "/api/v1/markets/AU/resolve?content_id=vid-ocean&at=0001-01-01T00:00:00%2B23:59",
    "/api/v1/markets/AU/resolve?content_id=vid-ocean&at=9999-12-31T23:59:59-23:59",
    "/api/v1/markets/AU/rules/?action=%00",
    "/api/v1/tokens/?user=%00",
]


@pytest.fixture
def world(markets: dict[str, Market], items: list[ContentItem]) -> dict[str, Any]:
    return {"rule": RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"]).pk}


@pytest.mark.parametrize(("method", "url"), WRITES, ids=[f"{m} {u}" for m, u in WRITES])
def test_garbage_bodies_are_4xx_and_write_nothing(
    method: str, url: str, world: dict[str, Any], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("admin_user")
    before = db_state()
    for body in GARBAGE:
        response = getattr(client, method)(
            url.format(**world), json.dumps(body), content_type="application/json"
        )
        assert 400 <= response.status_code < 500, (body, response.status_code, response.content[:200])
    raw = getattr(client, method)(url.format(**world), b"\xff{not json", content_type="application/json")
    assert raw.status_code == 400
    assert db_state() == before


@pytest.mark.parametrize("url", ["/api/v1/content/?page_size=-1", "/api/v1/content/?page_size=abc"])
def test_a_bad_page_size_falls_back_to_the_default(
    url: str, world: dict[str, Any], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").get(url)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


@pytest.mark.parametrize("url", READS)
def test_garbage_queries_and_paths_are_4xx(
    url: str, world: dict[str, Any], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").get(url)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])


ALL_PATHS = [
    "/api/v1/markets/",
    "/api/v1/markets/AU/",
    "/api/v1/markets/AU/rules/",
    "/api/v1/markets/AU/rules/{rule}/",
    "/api/v1/content/",
    "/api/v1/content/vid-ocean/",
    "/api/v1/content/bulk-upsert/",
    "/api/v1/content/vid-ocean/tags/",
    "/api/v1/tags/",
    "/api/v1/markets/AU/positions/",
    "/api/v1/markets/AU/positions/vid-ocean/",
    "/api/v1/markets/AU/positions/bulk/",
    "/api/v1/markets/AU/resolve",
    "/api/v1/tokens/",
    "/api/v1/tokens/1/",
]


@pytest.mark.parametrize("method", ["options", "head"])
@pytest.mark.parametrize("path", ALL_PATHS)
def test_options_and_head_never_fail(
    method: str, path: str, world: dict[str, Any], client_for: Callable[[str | None], Any]
) -> None:
    response = getattr(client_for("admin_user"), method)(path.format(**world))
    assert response.status_code < 500
