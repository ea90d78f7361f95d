"""The content board: filters, states with the resolver's reason, keyset paging, query budget."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.board import BadCursor, decode_cursor, encode_cursor
from content.models import ContentItem, ItemTag, Position, Tag
from markets.models import Market
from tests.factories import ContentItemFactory, PositionFactory, RuleFactory, TagFactory
from tests.ui.conftest import BASE, login

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def ids_on(html: str) -> list[str]:
    return re.findall(r'<span class="sub mono">(ng-[\w-]+)</span>', html)


def next_link(html: str) -> str | None:
    match = re.search(r'href="\?([^"]*)" rel="next"(?! aria-disabled)', html)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def board(editor, au: Market, us: Market, items: list):
    return login(editor)


@time_machine.travel(NOW, tick=False)
def test_rows_show_the_state_in_the_chosen_market_and_why(board, au: Market, us: Market, items: list) -> None:
    # Given ng-001 hidden in AU by a position, and ocean videos promoted in AU by a rule
    PositionFactory(market=au, item=items[1], state="hidden", reason="Legal note")
    TagFactory(slug="ocean")
    RuleFactory(market=au, action="promote", boost=2, match_tags=["ocean"], note="Ocean month")
    # When the editor opens the board for AU
    html = board.get("/content/?market=AU").content.decode()
    # Then rows come newest first, each with its state and the resolver's reason
    assert ids_on(html)[:3] == ["ng-000", "ng-001", "ng-002"]
    assert "Hidden by position (&#x27;Legal note&#x27;)" in html
    assert "Promoted by rule #" in html and "(Ocean month)" in html
    assert "Visible by default" in html
    # And in US the same item is visible
    html_us = board.get("/content/?market=US").content.decode()
    assert "Hidden by position" not in html_us


@time_machine.travel(NOW, tick=False)
def test_a_scheduled_position_is_flagged_but_not_in_effect(board, au: Market, items: list) -> None:
    PositionFactory(market=au, item=items[0], state="hidden", starts_at=NOW + timedelta(days=1))
    html = board.get("/content/?market=AU").content.decode()
    first_row = html.split(f'name="item" value="{items[0].pk}"')[1].split("</tr>")[0]
    assert ">visible<" in first_row
    assert "Position hidden from" in first_row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=video", ["ng-000", "ng-003", "ng-006", "ng-009"]),
        ("type=video&type=gallery", ["ng-000", "ng-003", "ng-006", "ng-009", "ng-011"]),
        ("q=deep+sea", ["ng-000", "ng-003", "ng-006", "ng-009"]),
        ("q=ng-004", ["ng-004"]),
        ("tag=polar", ["ng-011"]),
        ("tag=polar,+ocean", ["ng-000", "ng-003", "ng-006", "ng-009", "ng-011"]),
        ("language=de", ["ng-005"]),
        ("source=natgeo-tv", ["ng-000", "ng-003", "ng-006", "ng-009"]),
        ("sort=oldest&type=video", ["ng-009", "ng-006", "ng-003", "ng-000"]),
        ("sort=upstream_id&tag=ocean", ["ng-000", "ng-003", "ng-006", "ng-009"]),
    ],
)
def test_filters_and_sorts(board, query: str, expected: list[str]) -> None:
    html = board.get(f"/content/?market=AU&{query}").content.decode()
    assert ids_on(html) == expected


def test_published_range_is_read_in_the_markets_time_zone(board, au: Market) -> None:
    # Given an item published at 20:00 UTC on 1 March: 2 March 07:00 in Sydney, 1 March in New York
    ContentItemFactory(upstream_id="ng-late", published_at=datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    day = "published_from=2026-03-02&published_to=2026-03-02"
    # Then it is published "on 2 March" in AU, not in US
    assert ids_on(board.get(f"/content/?market=AU&{day}").content.decode()) == ["ng-late"]
    assert ids_on(board.get(f"/content/?market=US&{day}").content.decode()) == []


def test_a_reversed_date_range_is_an_inline_error(board) -> None:
    html = board.get("/content/?market=AU&published_from=2026-03-05&published_to=2026-03-01").content.decode()
    assert "The end date is before the start date." in html


@time_machine.travel(NOW, tick=False)
def test_state_filter_in_a_market(board, au: Market, us: Market, items: list) -> None:
    PositionFactory(market=au, item=items[2], state="hidden")
    PositionFactory(market=au, item=items[4], state="hidden", ends_at=NOW - timedelta(hours=1))  # over
    PositionFactory(market=us, item=items[6], state="hidden")
    PositionFactory(market=au, item=items[7], state="pinned", slot=1)
    assert ids_on(board.get("/content/?market=AU&state=hidden").content.decode()) == ["ng-002"]
    assert ids_on(board.get("/content/?market=US&state=hidden").content.decode()) == ["ng-006"]
    assert ids_on(board.get("/content/?market=AU&state=pinned").content.decode()) == ["ng-007"]
    none = ids_on(board.get("/content/?market=AU&state=none").content.decode())
    assert "ng-002" not in none and "ng-007" not in none and "ng-004" in none


def test_the_chosen_market_is_remembered(board) -> None:
    board.get("/content/?market=US")
    html = board.get("/content/").content.decode()
    assert '<option value="US" selected>' in html


@pytest.fixture
def many(db: None) -> list[ContentItem]:
    """130 items with two tags each, some sharing a publication time (ties on the sort key)."""
    ocean, polar = TagFactory(slug="ocean"), TagFactory(slug="polar")
    made = ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"ng-m{n:03d}",
            content_type="video",
            title=f"Many {n}",
            source="natgeo-tv",
            language="en",
            published_at=BASE - timedelta(minutes=n // 3),
        )
        for n in range(130)
    )
    ItemTag.objects.bulk_create(ItemTag(item=i, tag=t) for i in made for t in (ocean, polar))
    return made


@pytest.mark.parametrize("sort", ["newest", "oldest", "upstream_id"])
def test_keyset_paging_walks_every_item_once_both_ways(editor, au: Market, many: list, sort: str) -> None:
    client = login(editor)
    url = f"/content/?market=AU&per_page=25&sort={sort}"
    seen: list[str] = []
    pages = []
    query: str | None = url.split("?")[1]
    while query:
        html = client.get(f"/content/?{query}").content.decode()
        pages.append(html)
        seen += ids_on(html)
        query = next_link(html)
    assert len(seen) == 130 and len(set(seen)) == 130
    assert len(pages) == 6
    # Walking back from the last page with "previous" gives the same pages in reverse.
    prev = re.search(r'href="\?([^"]*)" rel="prev"', pages[-1]).group(1).replace("&amp;", "&")
    assert ids_on(client.get(f"/content/?{prev}").content.decode()) == ids_on(pages[-2])


@pytest.mark.parametrize("sort", ["newest", "oldest", "upstream_id"])
def test_a_market_state_filter_pages_in_order_both_ways(
    editor, au: Market, us: Market, many: list, sort: str
) -> None:
    # Given 90 of 130 items hidden in AU (ties on the publication time), some also hidden in US
    for item in many[:90]:
        Position.objects.create(market=au, item=item, state="hidden", author=editor)
    for item in many[:40]:
        Position.objects.create(market=us, item=item, state="hidden", author=editor)
    client = login(editor)

    # When the editor walks "hidden in AU" page by page
    seen: list[str] = []
    pages = []
    query: str | None = f"market=AU&state=hidden&per_page=25&sort={sort}"
    while query:
        html = client.get(f"/content/?{query}").content.decode()
        pages.append(html)
        seen += ids_on(html)
        query = next_link(html)

    # Then every hidden item comes once, in the sort's order (the join to US rows adds nothing)
    key = {
        "newest": lambda i: (-i.published_at.timestamp(), -i.pk),
        "oldest": lambda i: (i.published_at.timestamp(), i.pk),
        "upstream_id": lambda i: (i.upstream_id, i.pk),
    }[sort]
    assert seen == [i.upstream_id for i in sorted(many[:90], key=key)]
    assert len(pages) == 4
    prev = re.search(r'href="\?([^"]*)" rel="prev"', pages[-1]).group(1).replace("&amp;", "&")
    assert ids_on(client.get(f"/content/?{prev}").content.decode()) == ids_on(pages[-2])
    # And a title search inside the filter still works (no windowed scan on the position key)
    html = client.get("/content/?market=AU&state=hidden&q=Many 1&per_page=200").content.decode()
    assert set(ids_on(html)) == {i.upstream_id for i in many[:90] if "Many 1" in i.title}


@time_machine.travel(NOW, tick=False)
def test_a_page_costs_the_same_queries_for_25_or_200_rows_and_never_counts(
    editor, au: Market, many: list
) -> None:
    # Given positions on many items and a rule in AU
    for item in many[:60]:
        Position.objects.create(market=au, item=item, state="promoted", boost=2, author=editor)
    RuleFactory(market=au, action="hide", match_tags=["polar"], match_content_types=["gallery"])
    client = login(editor)
    client.get("/content/?market=AU")  # warm the facet cache and the session
    counts = {}
    for size in (25, 200):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/content/?market=AU&per_page={size}")
        assert response.status_code == 200
        counts[size] = len(ctx.captured_queries)
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    assert counts[25] == counts[200]
    # session, user, grants, markets, items, tags, rules, the market's groups, positions, the
    # groups the editor may apply to (+ the planner's row estimate from pg_class on PostgreSQL)
    assert counts[25] <= 11


def test_query_budget_with_every_filter(
    editor, au: Market, many: list, django_assert_max_num_queries
) -> None:
    client = login(editor)
    client.get("/content/?market=AU")
    # A title search may scan two bounded windows first: up to four more queries, never a COUNT.
    with django_assert_max_num_queries(12):
        client.get(
            "/content/?market=AU&state=none&type=video&tag=ocean&q=Many&language=en&source=natgeo-tv"
            "&published_from=2026-01-01&published_to=2026-12-31&per_page=100"
        )


def test_a_bad_cursor_falls_back_to_the_first_page(board) -> None:
    response = board.get("/content/?market=AU&after=not-a-cursor", follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "no longer valid" in html
    assert ids_on(html)[0] == "ng-000"


def test_cursor_round_trip_and_tampering() -> None:
    item = ContentItem(pk=7, upstream_id="x", published_at=BASE)
    cursor = encode_cursor("newest", item)
    assert decode_cursor("newest", cursor) == (BASE, 7)
    with pytest.raises(BadCursor):
        decode_cursor("upstream_id", cursor)
    with pytest.raises(BadCursor):
        decode_cursor("newest", "eyJ4Ijox")


def test_htmx_gets_only_the_results_fragment(board) -> None:
    response = board.get("/content/?market=AU&type=video", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="bulk-form"' not in html
    assert ids_on(html) == ["ng-000", "ng-003", "ng-006", "ng-009"]
    assert "HX-Request" in response["Vary"]


def test_count_on_demand_is_capped(board, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        "<strong>4</strong> matching items"
        in board.get("/content/count/?market=AU&type=video").content.decode()
    )
    monkeypatch.setattr("content.views.MATCH_CAP", 3)
    assert "More than 3" in board.get("/content/count/?market=AU&type=video").content.decode()


def test_an_empty_result_says_so(board) -> None:
    assert "No item matches these filters" in board.get("/content/?market=AU&q=zzz").content.decode()


def test_users_without_an_editable_market_get_no_bulk_panel(au_manager, au: Market, items: list) -> None:
    # A market manager may edit positions in AU: the panel offers AU and AU-OPTUS only.
    html = login(au_manager).get("/content/?market=AU").content.decode()
    offered = re.findall(r'name="markets" value="([\w-]+)"', html)
    assert offered == ["AU", "AU-OPTUS"]


def test_facets_suggest_known_values(board, items: list) -> None:
    html = board.get("/content/?market=AU").content.decode()
    assert '<option value="natgeo-tv">' in html and '<option value="polar">' in html
    assert Tag.objects.count() == 3


@pytest.mark.parametrize("windows", [(5, 20), (1,), (1000,)])
def test_windowed_title_search_gives_the_same_pages(
    editor, au: Market, many: list, monkeypatch: pytest.MonkeyPatch, windows: tuple
) -> None:
    # Given 41 items whose title contains "Many 1" (two pages) and tiny scan windows
    client = login(editor)
    expected = [
        i.upstream_id
        for i in sorted(many, key=lambda i: (i.published_at, i.pk), reverse=True)
        if "Many 1" in i.title
    ]
    monkeypatch.setattr("content.views.SEARCH_WINDOWS", windows)
    seen: list[str] = []
    query: str | None = "market=AU&per_page=25&q=Many+1"
    while query:
        html = client.get(f"/content/?{query}").content.decode()
        seen += ids_on(html)
        query = next_link(html)
    # Then the pages are exactly the matches in board order
    assert seen == expected
