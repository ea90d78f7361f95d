"""Change request pages: a form write that needs approval becomes a draft request; the request page
shows the diff and the preview with and without; the review buttons follow the rights."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.test import Client

from accounts.models import Membership, Role, User
from content.models import Position
from content.services import PositionChange
from markets.models import Market, Rule
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.services import Operation, policy_set, request_create
from tests.factories import UserFactory


def login(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_a_position_form_save_that_needs_approval_becomes_a_draft_request(
    guarded: Market, ana: User, items: list
) -> None:
    c = login(ana)
    url = f"/content/items/{items[0].upstream_id}/positions/AU-OPTUS/"
    # the form says so before she saves
    assert 'id="needs-approval"' in c.get(url).content.decode()
    response = c.post(url, {"version": 0, "state": "pinned", "slot": 1})
    cr = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{cr.pk}/"
    assert cr.state == RequestState.DRAFT and cr.author == ana
    assert not Position.objects.filter(market=guarded).exists()
    # a second form joins the same draft
    c.post(
        f"/content/items/{items[1].upstream_id}/positions/AU-OPTUS/",
        {"version": 0, "state": "pinned", "slot": 2},
    )
    assert ChangeRequest.objects.count() == 1 and cr.operations.count() == 2
    page = c.get(f"/requests/{cr.pk}/")
    assert b"needs approval in AU-OPTUS" in page.content
    # Ana sets the title and time, and submits
    submitted = c.post(
        f"/requests/{cr.pk}/edit/",
        {"title": "AU-OPTUS launch pins", "apply_at": "2030-03-04T06:00", "submit": "1"},
    )
    assert submitted.status_code == 302
    cr.refresh_from_db()
    assert cr.state == RequestState.SUBMITTED
    assert cr.apply_at == datetime(2030, 3, 3, 19, 0, tzinfo=UTC)  # 06:00 in Sydney (AEDT)


def test_a_rule_form_save_becomes_a_request(guarded: Market, ana: User) -> None:
    assert "needs 1 approval" in login(ana).get("/markets/AU-OPTUS/rules/new/").content.decode()
    assert 'id="needs-approval"' not in login(ana).get("/markets/AU-OPTUS/settings/").content.decode()
    response = login(ana).post(
        "/markets/AU-OPTUS/rules/new/", {"action": "hide", "match_sources": "natgeo-editorial"}
    )
    assert response.status_code == 302
    assert not Rule.objects.filter(market=guarded).exists()
    assert ChangeRequest.objects.get().operations.get().kind == "rule_create"


def test_the_request_page_shows_the_diff_and_the_preview_with_and_without(
    guarded: Market, ana: User, sam: User, items: list, django_assert_max_num_queries: Any
) -> None:
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Launch pins",
        operations=[Operation.position(items[2], PositionChange(state="pinned", slot=1, reason="Launch"))],
        submit=True,
    )
    sams = login(sam)
    response = sams.get(f"/requests/{cr.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "What changes" in body and "pinned" in body
    # AU-OPTUS is opt-in: without the request nothing shows; with it the pinned item appears first
    assert f'<strong class="mono">{items[2].upstream_id}</strong> appears' in body
    assert 'id="approve"' in body
    # the author sees no approve button, and a POST is refused
    own = login(ana).get(f"/requests/{cr.pk}/").content.decode()
    assert 'id="approve"' not in own and "someone else approves it" in own
    refused = login(ana).post(f"/requests/{cr.pk}/approve/")
    assert refused.status_code == 403
    approved = sams.post(f"/requests/{cr.pk}/approve/")
    assert approved.status_code == 302
    cr.refresh_from_db()
    assert cr.state == RequestState.APPLIED


def test_the_list_and_dashboard(
    guarded: Market, ana: User, sam: User, items: list, django_assert_max_num_queries: Any
) -> None:
    for n in range(12):
        request_create(
            actor=ana,
            market=guarded,
            title=f"Request {n}",
            operations=[Operation.position(items[n % 6], PositionChange(state="hidden"))],
            submit=True,
        )
    sams = login(sam)
    with django_assert_max_num_queries(12):
        listed = sams.get("/requests/?state=submitted&market=AU-OPTUS")
    assert listed.content.decode().count("/requests/") >= 12
    dashboard = sams.get("/").content.decode()
    assert 'id="review-queue"' in dashboard and "Request 11" in dashboard
    assert 'id="my-requests"' in login(ana).get("/").content.decode()


def test_policy_page_is_for_the_markets_managers(guarded: Market, ana: User, editor: User) -> None:
    assert login(editor).get("/requests/policy/AU-OPTUS/").status_code == 403
    response = login(ana).post(
        "/requests/policy/AU-OPTUS/", {"approvals_required": "2", "rules": "on", "bulk_threshold": "50"}
    )
    assert response.status_code == 302
    guarded.approval_policy.refresh_from_db()
    assert guarded.approval_policy.approvals_required == 2 and not guarded.approval_policy.positions
    bad = login(ana).post("/requests/policy/AU-OPTUS/", {"approvals_required": "3"})
    assert bad.status_code == 422


def test_a_bulk_change_over_the_size_becomes_a_request_for_that_market_only(
    optus: Market, au: Market, sam: User, items: list
) -> None:
    # AU-OPTUS: bulk changes over 3 positions need approval; AU: direct
    policy_set(actor=sam, market=optus, approvals_required=1, bulk_threshold=3)
    editor = UserFactory(username="mia")
    Membership.objects.create(user=editor, role=Role.EDITOR, market=None)
    response = login(editor).post(
        "/content/bulk/",
        {
            "item": [i.pk for i in items[:4]],
            "markets": ["AU", "AU-OPTUS"],
            "action": "hide",
            "reason": "Legal",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "4 positions set" in html and 'id="bulk-deferred"' in html
    assert Position.objects.filter(market=au, state="hidden").count() == 4
    assert not Position.objects.filter(market=optus).exists()
    cr = ChangeRequest.objects.get(market=optus)
    assert cr.operations.count() == 4 and cr.state == RequestState.DRAFT
    # three positions are under the size: direct
    login(editor).post(
        "/content/bulk/",
        {"item": [i.pk for i in items[4:6]], "markets": ["AU-OPTUS"], "action": "hide"},
        HTTP_HX_REQUEST="true",
    )
    assert Position.objects.filter(market=optus).count() == 2
