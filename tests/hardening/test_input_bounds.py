"""Accepted but wrong (issue #12): every value that reaches a shared-table item or a column is
bounded and typed where it comes in, so nothing is stored that can never be published."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from accounts.models import User
from content.services import item_tags_update
from markets.codes import timezone_error, timezone_names
from markets.models import Market
from markets.services import market_item_size_error, market_update
from portal.bounds import LANGUAGES_MAX, NOTE_MAX, SUMMARY_MAX
from tests.factories import ContentItemFactory, RuleFactory, TagFactory
from tests.hardening.test_bad_input import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user: User, au: Market) -> APIClient:
    TagFactory(slug="ocean")
    ContentItemFactory(upstream_id="vid-ocean", tag_slugs=["ocean"])
    client = APIClient()
    client.force_login(admin_user)
    return client


def _send(client: APIClient, method: str, path: str, body: Any) -> Any:
    return client.generic(method.upper(), path, json.dumps(body), "application/json")


REFUSED: list[tuple[str, str, Any, str]] = [
    # (method, path, body, the field the errors must name)
    ("patch", "/api/v1/markets/AU/", {"languages": ["en"] * 150_000}, "languages"),
    ("patch", "/api/v1/markets/AU/", {"languages": [f"x{i}" for i in range(LANGUAGES_MAX + 1)]}, "languages"),
    ("patch", "/api/v1/markets/AU/", {"timezone": "localtime"}, "timezone"),
    ("patch", "/api/v1/markets/AU/", {"timezone": "Factory"}, "timezone"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "promoted", "boost": "3"}, "boost"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "promoted", "boost": 3.0}, "boost"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "pinned", "slot": "2"}, "slot"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "pinned", "slot": True}, "slot"),
    (
        "post",
        "/api/v1/markets/AU/rules/",
        {"action": "promote", "boost": "3", "match_tags": ["ocean"]},
        "boost",
    ),
    (
        "post",
        "/api/v1/markets/AU/rules/",
        {"action": "hide", "match_tags": ["ocean"], "note": "n" * (NOTE_MAX + 1)},
        "note",
    ),
    ("post", "/api/v1/tokens/", {"name": "t", "days": "30"}, "days"),
    (
        "post",
        "/api/v1/content/bulk-upsert/",
        {
            "items": [
                {
                    "upstream_id": "n-1",
                    "content_type": "article",
                    "title": "t",
                    "source": "s",
                    "language": "en",
                    "published_at": "2026-01-01T00:00:00Z",
                    "summary": "s" * (SUMMARY_MAX + 1),
                }
            ]
        },
        "rows",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    REFUSED,
    ids=[f"{m} {p} {f} {i}" for i, (m, p, _, f) in enumerate(REFUSED)],
)
def test_out_of_bound_or_mistyped_values_are_field_errors(
    method: str, path: str, body: Any, field: str, api: APIClient
) -> None:
    before = snapshot()
    answer = _send(api, method, path, body)
    assert answer.status_code == 400, answer.content[:300]
    assert field in answer.json(), answer.json()
    assert snapshot() == before


def test_a_language_listed_twice_is_stored_once(api: APIClient, au: Market) -> None:
    answer = _send(api, "patch", "/api/v1/markets/AU/", {"languages": ["en", "de", "en"]})
    assert answer.status_code == 200, answer.content[:300]
    au.refresh_from_db()
    assert au.languages == ["en", "de"]


def test_integers_still_accepted_as_json_numbers(api: APIClient) -> None:
    answer = _send(api, "put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "promoted", "boost": 3})
    assert answer.status_code == 200, answer.content[:300]


def test_non_iana_time_zone_names_are_refused_and_not_offered() -> None:
    for name in ("localtime", "Factory", "posixrules"):
        assert timezone_error(name)
        assert name not in timezone_names()
    assert timezone_error("Australia/Sydney") is None


def test_a_summary_over_the_bound_fails_model_validation() -> None:
    item = ContentItemFactory.build(summary="s" * (SUMMARY_MAX + 1))
    with pytest.raises(ValidationError) as refused:
        item.clean_fields(exclude=["upstream_tags", "version"])
    assert "summary" in refused.value.message_dict


def test_market_settings_that_would_overflow_the_shared_item_are_refused(
    admin_user: User, au: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a market whose item is a little under the (here lowered) item size limit
    TagFactory(slug="ocean")
    RuleFactory(market=au, action="hide", match_tags=["ocean"], note="n" * NOTE_MAX)
    monkeypatch.setattr("markets.services.MAX_ITEM_BYTES", 2_600)
    assert market_item_size_error(au) is None
    # when the settings grow the item past the limit, then the update is refused and nothing changes
    with pytest.raises(ValidationError) as refused:
        market_update(actor=admin_user, market=au, languages=[f"en-{i:04d}aaaa-bbbbbbbb" for i in range(50)])
    assert "KB" in str(refused.value)
    au.refresh_from_db()
    assert au.languages == ["en"]


def test_an_item_cannot_collect_more_tags_than_the_bound(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an item with one tag and a bound of two
    monkeypatch.setattr("content.services.tags.ITEM_TAGS_MAX", 2)
    for slug in ("a-tag", "b-tag", "c-tag"):
        TagFactory(slug=slug)
    item = ContentItemFactory(upstream_id="tagged", tag_slugs=["a-tag"])
    item_tags_update(actor=admin_user, item=item, add=["b-tag"])
    # when a third is added, then it is refused and the item keeps its two
    with pytest.raises(ValidationError) as refused:
        item_tags_update(actor=admin_user, item=item, add=["c-tag"])
    assert "tags" in refused.value.message_dict
    assert sorted(item.tags.values_list("slug", flat=True)) == ["a-tag", "b-tag"]
