"""Inputs once answered with a 500 (issue #12), each now a 4xx: `%` in filters, NUL, edge-of-calendar
times, non-ASCII digits, a 100,000-deep JSON body. Run on SQLite and PostgreSQL (NUL only fails there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from markets.models import Market
from portal.api.parsers import MAX_JSON_DEPTH, json_depth
from portal.bounds import whole_number
from portal.shared_tables.feed import parse_feed_query
from tests.factories import ContentItemFactory, TagFactory
from tests.hardening.test_bad_input import snapshot
from tests.partner_keys import generous_partner_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user: User, au: Market) -> Client:
    TagFactory(slug="ocean")
    ContentItemFactory(upstream_id="vid-ocean", tag_slugs=["ocean"])
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


@pytest.fixture
def partner_client(db: None, settings: Any, tmp_path: Path, au: Market) -> Iterator[Client]:
    """A client whose requests carry a valid partner key (the feed is keyed)."""
    with generous_partner_key(settings, tmp_path, "Edge tests") as secret:
        yield Client(HTTP_X_API_KEY=secret, raise_request_exception=False)


GETS = [
    # `%` in a value that an error message quotes: django-filter re-formatted it with `%`.
    "/api/v1/content/?tag=50%25",
    "/api/v1/content/?market=%25s",
    "/api/v1/content/?tag=%25(x)s",
    # NUL in portal and API paths and queries (PostgreSQL refuses NUL in text).
    "/content/items/%00/",
    "/markets/%00/",
    "/audit/?market=%00",
    "/content/?market=%00",
    "/labels/moderation/%00/",
    "/accounts/tokens/?user=%00",
    "/api/v1/images/?content_id=%00",
    "/api/v1/content/?%00=1",
    # Edge-of-calendar times that overflow when converted with an offset.
    "/markets/AU/preview/?at=0001-01-01T00:00",
    "/markets/AU/preview/?at=9999-12-31T23:59",
    "/audit/?since=0001-01-01&market=AU",
    "/audit/?until=9999-12-31",
    "/content/?published_from=0001-01-01&market=AU",
    "/content/?published_to=9999-12-31",
    # Ids past a bigint in the path (the route takes any digits).
    "/markets/AU/rules/99999999999999999999999/",
    "/api/v1/markets/AU/rules/99999999999999999999999/",
    "/api/v1/partner-keys/99999999999999999999999/usage/",
    "/labels/images/99999999999999999999999/",
    "/audit/?cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzIzOjU5IiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd",
]


@pytest.mark.parametrize("url", GETS)
def test_odd_queries_and_paths_are_answered_4xx_or_200_never_500(url: str, admin_client: Client) -> None:
    # given an admin and a seeded market, when the odd address is requested
    answer = admin_client.get(url)
    # then it is refused (or shown) without a server error
    assert answer.status_code < 500, (url, answer.status_code)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/content/items/%00/", 404),
        ("/api/v1/markets/A%00U/", 404),
        ("/api/v1/content/?q=%00", 400),
        ("/audit/?market=a%00b", 400),
    ],
)
def test_nul_in_the_path_is_a_404_and_in_the_query_a_400(url: str, status: int, admin_client: Client) -> None:
    assert admin_client.get(url).status_code == status


def test_nul_in_an_api_query_names_the_parameter(admin_client: Client) -> None:
    assert "q" in admin_client.get("/api/v1/content/?q=%00").json()


def test_percent_in_a_filter_value_is_a_field_error(admin_client: Client) -> None:
    answer = admin_client.get("/api/v1/content/?tag=50%25")
    assert answer.status_code == 400
    assert answer.json() == {"tag": ["Unknown tag(s): 50%."]}


@pytest.mark.parametrize(
    "query",
    [
        "at=0001-01-01T00:00:00%2B05:00",
        "at=9999-12-31T23:59:59-05:00",
        "limit=%C2%B2",
        "limit=" + "9" * 5000,
    ],
)
def test_the_feed_refuses_edge_times_and_non_ascii_digits_with_400(
    query: str, partner_client: Client
) -> None:
    answer = partner_client.get(f"/feed/v1/AU?{query}")
    assert answer.status_code == 400, answer.content[:200]


def test_parse_feed_query_names_the_field() -> None:
    _, _, errors = parse_feed_query({"at": "0001-01-01T00:00:00+05:00", "limit": "²"})
    assert set(errors) == {"at", "limit"}


def test_whole_number_takes_ascii_digits_only() -> None:
    assert whole_number("42") == 42
    assert whole_number("²") is None
    assert whole_number("٣") is None  # Arabic-Indic three: int() would take it
    assert whole_number("9" * 19) is None
    assert whole_number("") is None


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (
            "/markets/AU/rules/new/",
            {"action": "hide", "match_tags": "ocean", "starts_at": "0001-01-01T00:00"},
        ),
        ("/markets/AU/rules/new/", {"action": "hide", "match_tags": "ocean", "ends_at": "9999-12-31T23:59"}),
        (
            "/content/items/vid-ocean/positions/AU/",
            {"state": "hidden", "starts_at": "0001-01-01T00:00", "version": "0"},
        ),
    ],
)
def test_forms_refuse_edge_of_calendar_times_as_field_errors(
    url: str, field: dict[str, str], admin_client: Client
) -> None:
    before = snapshot()
    answer = admin_client.post(url, field)
    assert answer.status_code in (200, 400, 422), answer.status_code
    assert "out of range" in answer.content.decode()
    assert snapshot() == before


def test_a_100000_deep_json_body_is_a_400(admin_client: Client) -> None:
    before = snapshot()
    body = "[" * 100_000 + "]" * 100_000
    answer = admin_client.post("/api/v1/markets/AU/rules/", body, content_type="application/json")
    assert answer.status_code == 400
    assert "nested" in answer.json()["detail"]
    assert snapshot() == before


def test_json_nested_just_past_the_limit_is_refused(admin_client: Client) -> None:
    body = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    answer = admin_client.post("/api/v1/markets/AU/rules/", body, content_type="application/json")
    assert answer.status_code == 400
    assert json_depth([[1], {"a": [2]}]) == 3


def test_a_deep_json_body_with_an_idempotency_key_is_a_400(admin_client: Client) -> None:
    body = "[" * 100_000 + "]" * 100_000
    answer = admin_client.post(
        "/api/v1/markets/AU/rules/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1"
    )
    assert answer.status_code == 400
