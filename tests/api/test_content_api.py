"""GET /api/v1/content/ and /content/{id}/: filters, cursor pagination, tags, bad filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from content.models import ContentItem, Position, Tag
from markets.models import Market
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["upstream_id"] for item in response.json()["results"]]


@pytest.fixture
def catalogue(markets: dict[str, Market], tags: dict[str, Tag]) -> dict[str, ContentItem]:
    """Five items with distinct publication times, types, sources, languages and tags."""
    base = datetime(2026, 3, 1, tzinfo=UTC)
    made = {
        "a": ContentItemFactory(
            upstream_id="a",
            title="Ocean giants",
            content_type="video",
            published_at=base,
            tag_slugs=["ocean"],
        ),
        "b": ContentItemFactory(
            upstream_id="b",
            title="Deer season",
            content_type="article",
            published_at=base + timedelta(days=1),
            tag_slugs=["hunting"],
        ),
        "c": ContentItemFactory(
            upstream_id="c",
            title="Reef life",
            content_type="clip",
            source="partner-feed",
            published_at=base + timedelta(days=2),
            tag_slugs=["ocean", "wildlife"],
        ),
        "d": ContentItemFactory(
            upstream_id="d", title="Berge", language="de", published_at=base + timedelta(days=3)
        ),
        "e": ContentItemFactory(upstream_id="e", title="Polar night", published_at=base + timedelta(days=4)),
    }
    Position.objects.create(market=markets["AU"], item=made["b"], state="hidden")
    Position.objects.create(market=markets["AU"], item=made["c"], state="default")
    return made


def test_list_is_newest_first_with_effective_tags(
    catalogue: Any, client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("editor").get("/api/v1/content/")
    assert ids(response) == ["e", "d", "c", "b", "a"]
    reef = response.json()["results"][2]
    assert sorted(reef["tags"]) == ["ocean", "wildlife"]


def test_cursor_pages_do_not_overlap(catalogue: Any, client_for: Callable[[str | None], Any]) -> None:
    client = client_for("editor")
    first = client.get("/api/v1/content/?page_size=2").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    pages = [[i["upstream_id"] for i in p["results"]] for p in (first, second, third)]
    assert pages == [["e", "d"], ["c", "b"], ["a"]]
    assert third["next"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ocean", ["a"]),
        ("q=d", ["d", "b"]),  # "d" by its upstream id, "Deer season" by title
        ("q=REEF", ["c"]),
        ("type=video", ["a"]),
        ("type=video,clip", ["c", "a"]),
        ("source=partner-feed", ["c"]),
        ("tag=ocean", ["c", "a"]),
        ("tag=ocean,hunting", ["c", "b", "a"]),
        ("language=de", ["d"]),
        ("published_after=2026-03-03T00:00:00Z", ["e", "d", "c"]),
        ("published_before=2026-03-02T00:00:00%2B00:00", ["a"]),
        ("published_after=2026-03-02T00:00:00Z&published_before=2026-03-04T00:00:00Z", ["c", "b"]),
        ("market=AU&state=hidden", ["b"]),
        ("market=au&state=none", ["e", "d", "c", "a"]),
        ("tag=ocean&type=clip", ["c"]),
    ],
)
def test_filters(
    query: str, expected: list[str], catalogue: Any, client_for: Callable[[str | None], Any]
) -> None:
    assert ids(client_for("au_manager").get(f"/api/v1/content/?{query}")) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tag=unicorns", "tag"),
        ("type=podcast", "type"),
        ("published_after=2026-03-01T00:00:00", "published_after"),
        ("published_before=yesterday", "published_before"),
        ("published_after=2026-03-04T00:00:00Z&published_before=2026-03-02T00:00:00Z", "published_before"),
        ("market=XX&state=hidden", "market"),
        ("state=hidden", "market"),
        ("market=AU", "state"),
        ("market=AU&state=sideways", "state"),
    ],
)
def test_bad_filters_are_400_with_field_errors(
    query: str, field: str, catalogue: Any, client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("editor").get(f"/api/v1/content/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_filtering_by_a_market_the_caller_may_not_view_is_refused(
    catalogue: Any, client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("au_manager").get("/api/v1/content/?market=DE&state=hidden")
    assert response.status_code == 403


def test_list_query_count_does_not_grow_with_items_or_tags(
    tags: dict[str, Tag], client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    # Given 60 items with two tags each
    extra = [TagFactory(slug=f"topic-{n}") for n in range(10)]
    for n in range(60):
        ContentItemFactory(tag_slugs=[extra[n % 10].slug, "ocean"])
    client = client_for("editor")

    # When they are listed (with a tag filter too), then the queries stay constant:
    # session, user, grants, the tag check, the page, and the page's tags
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/content/?page_size=100&tag=ocean")
    assert len(response.json()["results"]) == 60
    assert all(len(item["tags"]) == 2 for item in response.json()["results"])


def test_read_shows_effective_and_upstream_tags(
    catalogue: Any, tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    # Given an editor removed "wildlife" from the reef clip (upstream still sends it)
    client = client_for("editor")
    client.post("/api/v1/content/c/tags/", {"remove": ["wildlife"]}, format="json")

    # When the item is read
    response = client.get("/api/v1/content/c/")

    # Then the effective tags lack it, the upstream tags keep it
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["ocean"]
    assert sorted(body["upstream_tags"]) == ["ocean", "wildlife"]
    assert body["version"] == 2


def test_unknown_item_is_a_404(catalogue: Any, client_for: Callable[[str | None], Any]) -> None:
    assert client_for("editor").get("/api/v1/content/nope/").status_code == 404
