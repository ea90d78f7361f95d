"""GET/PATCH /api/v1/markets/: scope by role, ETags and If-Match, field errors, audit and outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state

pytestmark = pytest.mark.django_db


def test_list_shows_only_the_markets_the_caller_may_view(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    # Given the AU market manager (AU and AU-OPTUS)
    client = client_for("au_manager")

    # When they list markets
    response = client.get("/api/v1/markets/")

    # Then only their markets are listed, by code
    assert response.status_code == 200
    assert [m["code"] for m in response.json()["results"]] == ["AU", "AU-OPTUS"]


def test_list_is_cursor_paginated_and_filterable(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    # Given an admin and four markets, one of them opt-in
    client = client_for("admin_user")

    # When they page through two at a time
    first = client.get("/api/v1/markets/?page_size=2").json()
    second = client.get(first["next"]).json()

    # Then the pages follow each other without overlap
    assert [m["code"] for m in first["results"]] == ["AU", "AU-OPTUS"]
    assert [m["code"] for m in second["results"]] == ["DE", "US"]
    # And the opt-in filter finds the partner edition
    opt_in = client.get("/api/v1/markets/?default_visibility=opt_in").json()["results"]
    assert [m["code"] for m in opt_in] == ["AU-OPTUS"]


def test_list_query_count_does_not_grow_with_markets(
    markets: dict[str, Market],
    client_for: Callable[[str | None], Any],
    django_assert_max_num_queries: Any,
) -> None:
    # Given 30 more markets
    for code in ["FR", "GB", "IT", "ES", "NL", "BE", "AT", "CH", "SE", "NO", "DK", "FI", "PL", "CZ", "PT"]:
        Market.objects.create(code=code, name=code, languages=["en"])
    client = client_for("admin_user")

    # When an admin lists them, then the queries stay constant (session, user, grants, page)
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/markets/?page_size=100")
    assert len(response.json()["results"]) == 19


def test_read_sends_the_version_as_etag(au: Market, client_for: Callable[[str | None], Any]) -> None:
    # Given a market at version 1
    client = client_for("au_manager")

    # When it is read, in any letter case
    response = client.get("/api/v1/markets/au/")

    # Then the ETag names its version
    assert response.status_code == 200
    assert response["ETag"] == '"market-1"'
    assert response.json()["code"] == "AU"


def test_patch_with_the_current_etag_changes_settings_audits_and_publishes(
    au: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given the AU manager who read the market at version 1
    client = client_for("au_manager")

    # When they change its time zone and languages with If-Match
    response = client.patch(
        "/api/v1/markets/AU/",
        {"timezone": "Australia/Perth", "languages": ["en", "zh-Hant"]},
        format="json",
        HTTP_IF_MATCH='"market-1"',
    )

    # Then the change is saved with a new version and ETag, audited as an API change, and queued
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"market-2"'
    au.refresh_from_db()
    assert (au.timezone, au.languages, au.version) == ("Australia/Perth", ["en", "zh-Hant"], 2)
    entry = AuditEntry.objects.get(action="market.update")
    assert (entry.actor_name, entry.via, entry.market_code) == ("au-manager", "api", "AU")
    assert OutboxEntry.objects.filter(kind="market", key="AU", version=2).exists()


def test_patch_with_a_stale_etag_is_refused_with_412_and_the_current_values(
    au: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given someone changed the market after the script read it
    client = client_for("admin_user")
    client.patch("/api/v1/markets/AU/", {"name": "Australia!"}, format="json")
    before = db_state()

    # When the script sends its change with the old ETag
    response = client.patch("/api/v1/markets/AU/", {"name": "Oz"}, format="json", HTTP_IF_MATCH='"market-1"')

    # Then it is refused with the stored values, and nothing changes
    assert response.status_code == 412
    assert response.json()["current"]["name"] == "Australia!"
    assert db_state() == before


@pytest.mark.parametrize("header", ['"rule-1"', "market-1", '"market-x"', 'W/"market-1"'])
def test_patch_with_a_malformed_if_match_is_a_400(
    header: str, au: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given an admin
    client = client_for("admin_user")
    before = db_state()

    # When the If-Match header is not one of the market's ETags
    response = client.patch("/api/v1/markets/AU/", {"name": "Oz"}, format="json", HTTP_IF_MATCH=header)

    # Then it is refused with a field error and nothing changes
    assert response.status_code == 400
    assert "If-Match" in response.json()
    assert db_state() == before


def test_patch_with_if_match_star_is_unconditional(
    au: Market, client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").patch(
        "/api/v1/markets/AU/", {"name": "Oz"}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Oz"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": 10}, "timezone"),
        ({"languages": "en"}, "languages"),
        ({"languages": []}, "languages"),
        ({"languages": ["english!"]}, "languages"),
        ({"languages": [1]}, "languages"),
        ({"default_visibility": "sometimes"}, "default_visibility"),
        ({"active": "perhaps"}, "active"),
        ({"name": ""}, "name"),
        ({"name": ["A"]}, "name"),
        ({"code": "NZ"}, "code"),
        ({"version": 9}, "version"),
    ],
)
def test_patch_with_bad_values_is_a_400_with_field_errors_and_changes_nothing(
    body: dict[str, Any], field: str, au: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given the AU manager
    client = client_for("au_manager")
    before = db_state()

    # When they send a bad value
    response = client.patch("/api/v1/markets/AU/", body, format="json")

    # Then the answer names the field, and nothing was written
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert db_state() == before


def test_patch_without_changes_keeps_the_version(au: Market, client_for: Callable[[str | None], Any]) -> None:
    response = client_for("admin_user").patch("/api/v1/markets/AU/", {"name": "Australia"}, format="json")
    assert response.status_code == 200
    assert response["ETag"] == '"market-1"'
    assert not AuditEntry.objects.exists()


def test_unknown_market_is_a_404_even_for_writes(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("admin_user")
    assert client.get("/api/v1/markets/XX-NOPE/").status_code == 404
    assert client.patch("/api/v1/markets/XX/", {"name": "x"}, format="json").status_code == 404
