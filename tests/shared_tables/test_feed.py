"""GET /feed/v1/{market}: the resolved feed over the catalogue, decided from the shared tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from content.models import ContentItem
from content.services import PositionChange, position_set
from markets.models import Market
from markets.services import rule_create
from portal.shared_tables import config
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many
from portal.shared_tables.publisher import drain
from positioning.tables import SharedTables, TablesUnavailable
from tests.factories import ContentItemFactory, TagFactory
from tests.partner_keys import generous_partner_key

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def client(db: None, settings: Any, tmp_path: Path) -> Iterator[Client]:
    """A partner's client: every request carries a valid key on a generous plan (the feed is keyed)."""
    with generous_partner_key(settings, tmp_path, "Feed tests") as secret:
        yield Client(HTTP_X_API_KEY=secret)


def test_the_feed_refuses_a_request_without_a_partner_key(catalogue: list[ContentItem]) -> None:
    response = Client().get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z"})
    assert response.status_code == 403


@pytest.fixture
def catalogue(tables: SharedTables, au: Market) -> list[ContentItem]:
    """Six items in AU: one hidden by a rule, one pinned to slot 1; all published."""
    TagFactory(slug="hunting")
    items = [
        ContentItemFactory(upstream_id=f"c-{n}", published_at=AT - timedelta(hours=n), tag_slugs=tags)
        for n, tags in enumerate([[], ["hunting"], [], [], [], []])
    ]
    ContentItemFactory(upstream_id="future", published_at=AT + timedelta(days=1))
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"])
    position_set(actor=None, market=au, item=items[4], change=PositionChange(state="pinned", slot=1))
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items])
    drain()
    config.shared_tables_reader().clear_cache()
    return items


def test_the_feed_serves_the_resolved_order_with_reasons(
    client: Client, catalogue: list[ContentItem]
) -> None:
    # Given AU published; when the feed is asked for at 06:00 UTC, without any login
    response = client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z", "limit": "3"})

    # Then it answers JSON: the pinned item first, the hidden one gone, nothing from the future
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["market"], body["at"], body["limit"], body["active"]) == (
        "AU",
        "2026-03-02T06:00:00Z",
        3,
        True,
    )
    assert [i["content_id"] for i in body["items"]] == ["c-4", "c-0", "c-2"]
    first = body["items"][0]
    assert (first["rank"], first["state"], first["decided_by"], first["slot"]) == (1, "pinned", "position", 1)
    assert first["reason"] == "Pinned by position at slot 1"
    assert first["title"] and first["published_at"] == "2026-03-02T02:00:00Z"
    assert body["market_version"] == Market.objects.get(code="AU").version


def test_the_feed_keeps_no_session_and_needs_no_csrf(client: Client, catalogue: list[ContentItem]) -> None:
    # When the feed is read, then no cookie is set and caches are not told to vary on one
    response = client.get("/feed/v1/au/")
    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    # And only GET/HEAD are served
    assert client.head("/feed/v1/AU").status_code == 200
    assert client.post("/feed/v1/AU").status_code == 405


def test_the_feed_reads_the_catalogue_and_its_image_blocks_in_two_queries(
    client: Client, catalogue: list[ContentItem], django_assert_num_queries: Any
) -> None:
    # Given the partner's key already checked once (keys are cached for a few seconds)
    assert client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z"}).status_code == 200
    # When the feed is read again, then the database is asked twice (the candidates, and the
    # page's images blocked in the market); decisions come from the tables
    with django_assert_num_queries(2):
        assert client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z"}).status_code == 200


def test_decisions_come_from_the_tables_not_the_database(
    client: Client, catalogue: list[ContentItem], settings: Any, au: Market
) -> None:
    # Given a new hide rule saved but not yet published
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    rule_create(actor=None, market=au, action="hide", match_content_types=["article"])

    # When the feed is read, then the public answer is still the published state
    body = client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z"}).json()
    assert len(body["items"]) == 5


def test_an_offset_whose_plus_arrived_as_a_space_is_understood(
    client: Client, catalogue: list[ContentItem]
) -> None:
    # Given a client that did not encode "+10:00" (06:00 UTC is 16:00 in Sydney)
    response = client.get("/feed/v1/AU?at=2026-03-02T16:00:00+10:00")

    # Then the time is read as 06:00 UTC
    assert response.status_code == 200
    assert response.json()["at"] == "2026-03-02T06:00:00Z"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"at": "yesterday"}, "at"),
        ({"at": "2026-03-02T06:00:00"}, "at"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
    ],
)
def test_bad_parameters_answer_400_with_the_field(
    client: Client, catalogue: list[ContentItem], query: dict[str, str], field: str
) -> None:
    response = client.get("/feed/v1/AU", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("market", ["NZ", "XX", "not-a-market"])
def test_unknown_or_unpublished_markets_answer_404(
    client: Client, catalogue: list[ContentItem], market: str
) -> None:
    response = client.get(f"/feed/v1/{market}")
    assert response.status_code == 404
    assert "Unknown market" in response.json()["detail"]


def test_tables_that_cannot_be_read_answer_503_not_500(
    client: Client, catalogue: list[ContentItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the tables are down
    def down(*args: Any, **kwargs: Any) -> None:
        raise TablesUnavailable("connection refused")

    monkeypatch.setattr(config.shared_tables_reader(), "market", down)

    # When the feed is read, then it says so and when to retry
    response = client.get("/feed/v1/AU")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_an_inactive_market_is_not_served_and_comes_back_on_reactivation(
    client: Client, catalogue: list[ContentItem], admin_user: Any
) -> None:
    from markets.services import market_activate, market_deactivate

    # Given an admin deactivated AU and the change was published
    au = Market.objects.get(code="AU")
    market_deactivate(actor=admin_user, market=au)
    drain()
    config.shared_tables_reader().clear_cache()

    # When a partner asks for AU's feed, then it is not served, saying why
    response = client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Market 'AU' is inactive.", "active": False}

    # When AU is reactivated and published, it is served again with its rules and positions
    market_activate(actor=admin_user, market=au)
    drain()
    config.shared_tables_reader().clear_cache()
    body = client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z", "limit": "3"}).json()
    assert body["active"] is True
    assert [i["content_id"] for i in body["items"]] == ["c-4", "c-0", "c-2"]
