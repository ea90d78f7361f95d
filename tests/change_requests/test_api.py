"""The change request REST API, and direct writes that answer 202 with a request."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from accounts.models import Membership, Role, User
from content.models import Position
from content.services import PositionChange
from markets.models import Market
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.services import Operation, request_create
from tests.factories import UserFactory


def client(user: User) -> APIClient:
    c = APIClient()
    c.force_login(user)
    return c


def test_a_direct_position_write_answers_202_with_the_request(
    guarded: Market, ana: User, items: list
) -> None:
    response = client(ana).put(
        f"/api/v1/markets/AU-OPTUS/positions/{items[0].upstream_id}/",
        {"state": "pinned", "slot": 1},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "submitted" and body["market"] == "AU-OPTUS"
    assert body["operations"][0]["content_id"] == items[0].upstream_id
    assert body["operations"][0]["base_version"] == 0
    assert not Position.objects.filter(market=guarded).exists()


def test_a_stale_if_match_is_refused_before_a_request_is_made(
    guarded: Market, ana: User, items: list
) -> None:
    response = client(ana).put(
        f"/api/v1/markets/AU-OPTUS/positions/{items[0].upstream_id}/",
        {"state": "hidden"},
        format="json",
        HTTP_IF_MATCH='"position-3"',
    )
    assert response.status_code == 412
    assert not ChangeRequest.objects.exists()


def test_a_rule_write_through_an_automation_token_follows_the_policy(guarded: Market, ana: User) -> None:
    from accounts.services import api_token_create

    issued = api_token_create(actor=ana, user=ana, name="script")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {issued.secret}")
    response = c.post(
        "/api/v1/markets/AU-OPTUS/rules/", {"action": "hide", "match_sources": ["x"]}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["operations"][0]["kind"] == "rule_create"
    assert not guarded.rules.exists()


def test_create_approve_and_list(
    guarded: Market, ana: User, sam: User, items: list, django_assert_max_num_queries: Any
) -> None:
    response = client(ana).post(
        "/api/v1/change-requests/",
        {
            "market": "AU-OPTUS",
            "title": "Launch pins",
            "apply_at": "2030-03-02T06:00:00+11:00",
            "submit": True,
            "operations": [
                {
                    "kind": "position",
                    "content_id": items[0].upstream_id,
                    "values": {"state": "pinned", "slot": 1},
                },
                {"kind": "rule_create", "values": {"action": "hide", "match_sources": ["y"]}},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    # Ana may not approve her own request
    refused = client(ana).post(f"/api/v1/change-requests/{pk}/approve/")
    assert refused.status_code == 403
    approved = client(sam).post(f"/api/v1/change-requests/{pk}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert approved.json()["approvals"][0]["user"] == "sam"
    comment = client(sam).post(
        f"/api/v1/change-requests/{pk}/comments/", {"body": "Looks right"}, format="json"
    )
    assert comment.status_code == 201
    for n in range(15):
        request_create(
            actor=ana,
            market=guarded,
            title=f"r{n}",
            operations=[Operation.position(items[1 + n % 4], PositionChange(state="hidden"))],
            submit=True,
        )
    sams = client(sam)
    with django_assert_max_num_queries(10):
        listed = sams.get("/api/v1/change-requests/?state=submitted&market=au-optus&author=ana&page_size=50")
    assert listed.status_code == 200
    assert len(listed.json()["results"]) == 15
    assert client(sam).get("/api/v1/change-requests/?state=approved").json()["results"][0]["id"] == pk


def test_other_markets_requests_are_not_found(guarded: Market, ana: User, au: Market, items: list) -> None:
    cr = request_create(
        actor=ana,
        market=guarded,
        title="x",
        operations=[Operation.position(items[0], PositionChange(state="hidden"))],
    )
    outsider = UserFactory()
    Membership.objects.create(user=outsider, role=Role.MARKET_MANAGER, market=au)
    assert client(outsider).get(f"/api/v1/change-requests/{cr.pk}/").status_code == 404
    assert client(outsider).post(f"/api/v1/change-requests/{cr.pk}/approve/").status_code == 404
    assert client(outsider).get("/api/v1/change-requests/").json()["results"] == []
    # bad input is a 400, never a 500
    bad = client(ana).post(
        "/api/v1/change-requests/",
        {"market": "AU-OPTUS", "title": "x", "operations": [{"kind": "position", "content_id": "nope"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert ChangeRequest.objects.filter(state=RequestState.DRAFT).count() == 1


def test_reject_withdraw_refresh_and_their_denials(
    guarded: Market, ana: User, sam: User, items: list
) -> None:
    def make() -> int:
        cr = request_create(
            actor=ana,
            market=guarded,
            title="x",
            operations=[Operation.position(items[0], PositionChange(state="hidden"))],
            submit=True,
        )
        return cr.pk

    first, second = make(), make()
    assert client(ana).post(f"/api/v1/change-requests/{first}/reject/", {}, format="json").status_code == 403
    rejected = client(sam).post(f"/api/v1/change-requests/{first}/reject/", {"reason": "No"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert rejected.json()["comments"][0]["body"] == "No"
    assert client(sam).post(f"/api/v1/change-requests/{second}/withdraw/").status_code == 403
    assert client(ana).post(f"/api/v1/change-requests/{second}/refresh/").json()["state"] == "submitted"
    withdrawn = client(ana).post(f"/api/v1/change-requests/{second}/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    # a finished request takes no more transitions
    assert client(sam).post(f"/api/v1/change-requests/{second}/approve/").status_code == 403
