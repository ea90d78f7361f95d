"""/api/v1/markets/{code}/rules/: CRUD, ETags and If-Match, field errors, query counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from content.models import Tag
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db

HIDE_HUNTING = {"action": "hide", "match_tags": ["hunting"], "note": "German youth-protection review"}


def test_create_adds_the_rule_bumps_the_market_and_audits(
    markets: dict[str, Market], tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    # Given an admin (Lukas's journey: hide everything tagged hunting in DE)
    client = client_for("admin_user")

    # When they add the rule
    response = client.post("/api/v1/markets/DE/rules/", HIDE_HUNTING, format="json")

    # Then it is stored, described, versioned, audited and the market is republished
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["match_tags"] == ["hunting"] and body["author"] == "admin" and body["market"] == "DE"
    assert response["ETag"] == '"rule-1"'
    assert Rule.objects.get(pk=body["id"]).note == "German youth-protection review"
    assert AuditEntry.objects.filter(action="rule.create", via="api", market_code="DE").exists()
    assert OutboxEntry.objects.filter(kind="market", key="DE", version=2).exists()


def test_list_and_read(markets: dict[str, Market], client_for: Callable[[str | None], Any]) -> None:
    # Given two rules in AU and one in DE
    a = RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"])
    b = RuleFactory(
        market=markets["AU"], action="promote", boost=2, match_content_types=["video"], match_tags=[]
    )
    RuleFactory(market=markets["DE"])
    client = client_for("au_manager")

    # When the AU manager lists AU's rules and filters promote rules
    listed = client.get("/api/v1/markets/AU/rules/").json()["results"]
    promotes = client.get("/api/v1/markets/AU/rules/?action=promote").json()["results"]
    one = client.get(f"/api/v1/markets/AU/rules/{b.pk}/")

    # Then only AU's rules appear, oldest first, and one reads with its ETag
    assert [r["id"] for r in listed] == [a.pk, b.pk]
    assert [r["id"] for r in promotes] == [b.pk]
    assert one.json()["boost"] == 2 and one["ETag"] == '"rule-1"'


def test_list_query_count_is_constant(
    markets: dict[str, Market], client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    for n in range(40):
        RuleFactory(
            market=markets["AU"], action="promote", boost=n + 1, match_tags=[], match_sources=[f"s{n}"]
        )
    client = client_for("au_manager")
    # session, user, grants, market, rules (with authors and market joined)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/markets/AU/rules/?page_size=100")
    assert len(response.json()["results"]) == 40


def test_a_rule_of_another_market_is_not_found_through_this_market(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    rule = RuleFactory(market=markets["DE"])
    client = client_for("admin_user")
    assert client.get(f"/api/v1/markets/AU/rules/{rule.pk}/").status_code == 404
    assert client.delete(f"/api/v1/markets/AU/rules/{rule.pk}/").status_code == 404
    assert Rule.objects.filter(pk=rule.pk).exists()


def test_patch_with_if_match_changes_only_the_fields_sent(
    markets: dict[str, Market], tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    # Given a hide rule at version 1
    rule = RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"], note="old")
    client = client_for("au_manager")

    # When the note is changed with the current ETag
    response = client.patch(
        f"/api/v1/markets/AU/rules/{rule.pk}/", {"note": "legal"}, format="json", HTTP_IF_MATCH='"rule-1"'
    )

    # Then only the note changed and the version grew
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"rule-2"'
    rule.refresh_from_db()
    assert (rule.note, rule.match_tags, rule.action) == ("legal", ["hunting"], "hide")


def test_put_replaces_the_rule(
    markets: dict[str, Market], tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    rule = RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"], note="old")
    response = client_for("admin_user").put(
        f"/api/v1/markets/AU/rules/{rule.pk}/",
        {"action": "promote", "boost": 5, "match_content_types": ["video"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    rule.refresh_from_db()
    assert (rule.action, rule.boost, rule.match_tags, rule.match_content_types, rule.note) == (
        "promote",
        5,
        [],
        ["video"],
        "",
    )


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_writes_with_a_stale_etag_get_412_and_change_nothing(
    method: str, markets: dict[str, Market], tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    # Given a rule another manager changed after our script read it (version 1 → 2)
    rule = RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"])
    client = client_for("admin_user")
    client.patch(f"/api/v1/markets/AU/rules/{rule.pk}/", {"note": "newer"}, format="json")
    before = db_state()

    # When the script writes with the ETag it read
    body = {"action": "hide", "match_tags": ["ocean"]} if method != "delete" else None
    response = getattr(client, method)(
        f"/api/v1/markets/AU/rules/{rule.pk}/", body, format="json", HTTP_IF_MATCH='"rule-1"'
    )

    # Then it is refused with the current values, and nothing changes
    assert response.status_code == 412
    assert response.json()["current"]["note"] == "newer"
    assert db_state() == before


def test_delete_removes_the_rule_and_republishes_the_market(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    rule = RuleFactory(market=markets["AU"])
    response = client_for("au_manager").delete(
        f"/api/v1/markets/AU/rules/{rule.pk}/", HTTP_IF_MATCH='"rule-1"'
    )
    assert response.status_code == 204
    assert not Rule.objects.exists()
    assert AuditEntry.objects.filter(action="rule.delete", via="api").exists()
    assert OutboxEntry.objects.filter(kind="market", key="AU").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "hide", "match_tags": ["unicorns"]}, "match_tags"),
        ({"action": "hide", "match_content_types": ["podcast"]}, "match_content_types"),
        ({"action": "hide"}, "match"),
        ({"action": "explode", "match_tags": ["hunting"]}, "action"),
        ({"action": "promote", "match_tags": ["hunting"]}, "boost"),
        ({"action": "hide", "boost": 3, "match_tags": ["hunting"]}, "boost"),
        ({"action": "promote", "boost": "lots", "match_tags": ["hunting"]}, "boost"),
        ({"action": "hide", "match_tags": "hunting"}, "match_tags"),
        ({"action": "hide", "match_tags": [7]}, "match_tags"),
        (
            {
                "action": "hide",
                "match_tags": ["hunting"],
                "starts_at": "2026-03-02T00:00:00Z",
                "ends_at": "2026-03-01T00:00:00Z",
            },
            "ends_at",
        ),
        ({"action": "hide", "match_tags": ["hunting"], "starts_at": "2026-03-01T06:00:00"}, "starts_at"),
        ({"action": "hide", "match_tags": ["hunting"], "starts_at": "next tuesday"}, "starts_at"),
        ({"action": "hide", "match_tags": ["hunting"], "market": "DE"}, "market"),
        ({"action": "hide", "match_tags": ["hunting"], "note": None}, "note"),
    ],
)
def test_bad_rules_are_400_with_field_errors_and_nothing_written(
    body: dict[str, Any],
    field: str,
    markets: dict[str, Market],
    tags: dict[str, Tag],
    client_for: Callable[[str | None], Any],
) -> None:
    # Given the AU manager
    client = client_for("au_manager")
    before = db_state()

    # When they post a bad rule
    response = client.post("/api/v1/markets/AU/rules/", body, format="json")

    # Then the answer names the field and nothing was written
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert db_state() == before


def test_a_window_given_with_an_offset_is_stored_in_utc(
    markets: dict[str, Market], tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").post(
        "/api/v1/markets/AU/rules/",
        {**HIDE_HUNTING, "starts_at": "2026-03-01T06:00:00+11:00"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["starts_at"] == "2026-02-28T19:00:00Z"
