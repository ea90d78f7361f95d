"""POST /api/v1/markets/ and the deactivate/activate actions: admins only, field errors, audit,
outbox, and every write to an inactive market refused over the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from content.models import ContentItem
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db

TELEKOM = {
    "code": "DE-TELEKOM",
    "name": "Telekom (Germany)",
    "default_visibility": "opt_in",
    "copy_rules_from": "DE",
}


def token_client(user: User) -> APIClient:
    client = APIClient()
    secret = api_token_create(actor=None, user=user, name="script", never_expires=True).secret
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def de_rules(de: Market, tags: Any) -> list[Rule]:
    return [
        RuleFactory(market=de, action="hide", match_tags=["hunting"], note="Youth protection"),
        RuleFactory(market=de, action="promote", boost=2, match_tags=[], match_content_types=["video"]),
    ]


def test_admin_creates_a_partner_edition_copying_rules(
    de_rules: list[Rule], client_for: Callable[[str | None], Any]
) -> None:
    # Given an admin's API client and DE with two rules
    client = client_for("admin_user")

    # When they create DE-TELEKOM as opt-in, copying DE
    response = client.post("/api/v1/markets/", TELEKOM, format="json")

    # Then it is created with DE's settings where none were given, and DE's rules as new rules
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body | {"updated_at": None} == {
        "code": "DE-TELEKOM",
        "name": "Telekom (Germany)",
        "languages": ["de"],
        "timezone": "Europe/Berlin",
        "default_visibility": "opt_in",
        "active": True,
        "version": 1,
        "updated_at": None,
    }
    assert response["ETag"] == '"market-1"'
    assert response["Location"].endswith("/api/v1/markets/DE-TELEKOM/")
    rules = client.get("/api/v1/markets/DE-TELEKOM/rules/").json()["results"]
    assert [(r["action"], r["match_tags"], r["match_content_types"], r["boost"]) for r in rules] == [
        ("hide", ["hunting"], [], 0),
        ("promote", [], ["video"], 2),
    ]
    # And the creation and the copies are audited as made over the API, and queued for publishing
    assert AuditEntry.objects.filter(action="market.create", via="api").count() == 1
    assert AuditEntry.objects.filter(action="rule.copy", via="api", market_code="DE-TELEKOM").count() == 2
    assert OutboxEntry.objects.filter(kind="market", key="DE-TELEKOM").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "ZZ-TELEKOM"}, "code"),
        ({"code": "GERMANY"}, "code"),
        ({"code": "DE"}, "code"),  # taken
        ({"code": 49}, "code"),
        ({"timezone": "Berlin"}, "timezone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"languages": ["de", "xx_YY"]}, "languages"),
        ({"languages": []}, "languages"),
        ({"languages": "de"}, "languages"),
        ({"default_visibility": "hidden"}, "default_visibility"),
        ({"copy_rules_from": "XX"}, "copy_rules_from"),
        ({"name": ""}, "name"),
        ({"active": False}, "active"),  # a new market starts active; unknown fields are refused
    ],
)
def test_create_answers_field_errors_and_writes_nothing(
    de: Market, client_for: Callable[[str | None], Any], body: dict[str, Any], field: str
) -> None:
    # Given an admin and a body with one bad value
    client = client_for("admin_user")
    before = db_state()

    # When they post it
    response = client.post("/api/v1/markets/", {**TELEKOM, **body}, format="json")

    # Then the field is named, nothing is written
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert db_state() == before


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_non_admins_are_refused_create_and_status_changes(
    au: Market, de: Market, client_for: Callable[[str | None], Any], role: str
) -> None:
    # Given a user who is no admin (the AU manager manages AU)
    client = client_for(role)
    before = db_state()

    # When they create a market, deactivate AU or reactivate it
    created = client.post("/api/v1/markets/", TELEKOM, format="json")
    deactivated = client.post("/api/v1/markets/AU/deactivate/")
    activated = client.post("/api/v1/markets/AU/activate/")

    # Then each is refused with 403 and nothing is written
    assert [created.status_code, deactivated.status_code, activated.status_code] == [403, 403, 403]
    assert "not allowed" in created.json()["detail"]
    assert db_state() == before


def test_a_token_of_a_non_admin_is_refused_and_an_admins_token_works(
    au: Market, de: Market, au_manager: User, admin_user: User
) -> None:
    # Given a token of the AU manager and one of an admin
    manager, admin = token_client(au_manager), token_client(admin_user)

    # When the manager's token creates a market or deactivates AU, it is refused
    assert manager.post("/api/v1/markets/", TELEKOM, format="json").status_code == 403
    assert manager.post("/api/v1/markets/AU/deactivate/").status_code == 403

    # And the admin's token may
    assert admin.post("/api/v1/markets/", TELEKOM, format="json").status_code == 201
    assert admin.post("/api/v1/markets/AU/deactivate/").status_code == 200


def test_unauthenticated_callers_get_401(au: Market) -> None:
    client = APIClient()
    assert client.post("/api/v1/markets/", TELEKOM, format="json").status_code == 401
    assert client.post("/api/v1/markets/AU/deactivate/").status_code == 401


def test_deactivate_and_reactivate_with_etags(au: Market, client_for: Callable[[str | None], Any]) -> None:
    # Given an admin who read AU at version 1
    client = client_for("admin_user")

    # When they deactivate it with that ETag
    response = client.post("/api/v1/markets/au/deactivate/", HTTP_IF_MATCH='"market-1"')

    # Then it is inactive at version 2, audited as made over the API and queued for publishing
    assert response.status_code == 200
    assert (response.json()["active"], response["ETag"]) == (False, '"market-2"')
    assert AuditEntry.objects.filter(action="market.deactivate", via="api").count() == 1
    assert OutboxEntry.objects.filter(kind="market", key="AU", version=2).exists()
    # And the list filter finds it among the inactive markets
    assert [m["code"] for m in client.get("/api/v1/markets/?active=false").json()["results"]] == ["AU"]

    # When they reactivate it with the stale ETag, it is refused with the current values
    stale = client.post("/api/v1/markets/AU/activate/", HTTP_IF_MATCH='"market-1"')
    assert stale.status_code == 412 and stale.json()["current"]["active"] is False

    # And with the current one it is active again
    assert client.post("/api/v1/markets/AU/activate/", HTTP_IF_MATCH='"market-2"').json()["active"] is True


def test_unknown_market_status_change_is_404(
    admin_user: User, client_for: Callable[[str | None], Any]
) -> None:
    assert client_for("admin_user").post("/api/v1/markets/ZZ/deactivate/").status_code == 404


def test_patch_no_longer_changes_active(au: Market, client_for: Callable[[str | None], Any]) -> None:
    # Given AU's manager, who could PATCH `active` before admins took it over
    client = client_for("au_manager")

    # When they PATCH it, they are told where it moved, and nothing changes
    response = client.patch("/api/v1/markets/AU/", {"active": False}, format="json")
    assert response.status_code == 400
    assert "deactivate/" in response.json()["active"][0]
    assert Market.objects.get(pk=au.pk).active


def test_writes_to_an_inactive_market_are_refused_with_a_clear_403(
    au: Market, items: list[ContentItem], client_for: Callable[[str | None], Any], tags: Any
) -> None:
    # Given AU is inactive, with a rule
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    clients = [client_for("au_manager"), client_for("admin_user")]
    assert clients[1].post("/api/v1/markets/AU/deactivate/").status_code == 200
    before = db_state()

    # When its manager (or an admin) changes settings, rules or positions over the API
    answers = []
    for client in clients:
        answers += [
            client.patch("/api/v1/markets/AU/", {"name": "Oz"}, format="json"),
            client.post(
                "/api/v1/markets/AU/rules/",
                {"action": "hide", "match_content_types": ["video"]},
                format="json",
            ),
            client.patch(f"/api/v1/markets/AU/rules/{rule.pk}/", {"note": "x"}, format="json"),
            client.delete(f"/api/v1/markets/AU/rules/{rule.pk}/"),
            client.put(
                f"/api/v1/markets/AU/positions/{items[0].upstream_id}/", {"state": "hidden"}, format="json"
            ),
        ]

    # Then each is refused with 403 saying the market is inactive, and nothing is written
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert all("AU is inactive" in a.json()["detail"] for a in answers)
    assert db_state() == before
    # And reading still works
    assert clients[0].get("/api/v1/markets/AU/rules/").status_code == 200


def test_market_list_query_count_stays_flat_with_inactive_markets(
    markets: dict[str, Market], client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    # Given 20 more markets, half of them inactive
    for n, code in enumerate(["FR", "GB", "IT", "ES", "NL", "BE", "AT", "CH", "SE", "NO"] * 2):
        Market.objects.get_or_create(code=code if n < 10 else f"{code}-PARTNER", name=code, active=n % 2 == 0)
    client = client_for("admin_user")

    # When an admin lists them, the queries stay constant
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/markets/?page_size=100")
    assert len(response.json()["results"]) == 24
