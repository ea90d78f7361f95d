"""Group change requests in the portal and the API: the group page's rule form queues a request,
the request page previews each member, the group policy page and API, 202 + approve, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role, User
from content.models import ContentItem, GroupPosition
from content.services import PositionChange
from markets.models import GroupRule, Market, MarketGroup
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.services import Operation, policy_set, request_create
from tests.factories import ContentItemFactory, UserFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def api(user: User) -> APIClient:
    c = APIClient()
    c.force_login(user)
    return c


@pytest.fixture
def manager(dach_markets: dict[str, Market]) -> User:
    return person("lukas", Role.MARKET_MANAGER, *dach_markets.values())


@pytest.fixture
def reviewed(dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User) -> MarketGroup:
    policy_set(actor=admin_user, market=dach_markets["AT"], approvals_required=1, rules=True, positions=True)
    return dach


@pytest.fixture
def items(db: None) -> list[ContentItem]:
    return [ContentItemFactory(upstream_id=f"alps-{n}") for n in range(3)]


def test_a_group_rule_form_save_becomes_a_draft_group_request(reviewed: MarketGroup, manager: User) -> None:
    c = login(manager)
    page = c.get("/groups/DACH/").content.decode()
    assert 'id="group-approvals"' in page and "rule changes need 1 approval (AT)" in page
    assert 'id="needs-approval"' in c.get("/groups/DACH/rules/new/").content.decode()
    response = c.post("/groups/DACH/rules/new/", {"action": "hide", "match_sources": "gossip"})
    cr = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{cr.pk}/"
    assert cr.group == reviewed and cr.state == RequestState.DRAFT and not GroupRule.objects.exists()
    detail = c.get(f"/requests/{cr.pk}/").content.decode()
    assert "needs approval in group DACH" in detail and "New group rule" in detail
    assert c.post(f"/requests/{cr.pk}/edit/", {"title": "No gossip", "submit": "1"}).status_code == 302
    cr.refresh_from_db()
    assert cr.state == RequestState.SUBMITTED


def test_the_request_page_previews_the_group_request_in_each_member(
    reviewed: MarketGroup, manager: User, admin_user: User, items: list[ContentItem]
) -> None:
    cr = request_create(
        actor=manager,
        group=reviewed,
        title="Hide alps-0",
        operations=[Operation.position(items[0], PositionChange(state="hidden"))],
        submit=True,
    )
    admin = login(admin_user)
    first = admin.get(f"/requests/{cr.pk}/").content.decode()
    assert 'id="preview-members"' in first and "Group position of" in first
    assert "AT with and without this request" in first  # the first member by code
    chosen = admin.get(f"/requests/{cr.pk}/?member=CH").content.decode()
    assert "CH with and without this request" in chosen
    assert 'id="approve"' in chosen
    # The author sees no approve button; the approval applies it
    assert 'id="approve"' not in login(manager).get(f"/requests/{cr.pk}/").content.decode()
    assert admin.post(f"/requests/{cr.pk}/approve/").status_code == 302
    assert GroupPosition.objects.get(group=reviewed, item=items[0]).state == "hidden"


def test_an_editor_without_the_group_right_cannot_approve(
    reviewed: MarketGroup, dach_markets: dict[str, Market], manager: User
) -> None:
    cr = request_create(
        actor=manager,
        group=reviewed,
        title="Rule",
        operations=[Operation.rule_create(action="hide", match_sources=["x"])],
        submit=True,
    )
    editor = person("dach-editor", Role.EDITOR, *dach_markets.values())
    page = login(editor).get(f"/requests/{cr.pk}/").content.decode()
    assert 'id="approve"' not in page
    login(editor).post(f"/requests/{cr.pk}/approve/")
    assert api(editor).post(f"/api/v1/change-requests/{cr.pk}/approve/").status_code == 403
    assert api(manager).post(f"/api/v1/change-requests/{cr.pk}/approve/").status_code == 403
    cr.refresh_from_db()
    assert cr.state == RequestState.SUBMITTED and not cr.approvals.exists()
    # Someone who sees no member sees no request
    outsider = person("fr-editor", Role.EDITOR, Market.objects.create(code="FR", name="France"))
    assert login(outsider).get(f"/requests/{cr.pk}/").status_code == 404


def test_the_group_api_answers_202_and_the_request_is_approved_through_the_api(
    reviewed: MarketGroup, manager: User, admin_user: User, items: list[ContentItem]
) -> None:
    response = api(manager).post(
        "/api/v1/groups/DACH/rules/", {"action": "hide", "match_sources": ["gossip"]}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    assert body["group"] == "DACH" and body["market"] is None and body["state"] == "submitted"
    assert body["operations"][0]["kind"] == "rule_create"
    approved = api(admin_user).post(f"/api/v1/change-requests/{body['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] == "applied"
    assert GroupRule.objects.get(group=reviewed).match_sources == ["gossip"]
    # A group request built through the change request API, listed by group
    built = api(manager).post(
        "/api/v1/change-requests/",
        {
            "group": "DACH",
            "title": "Hide alps-1",
            "submit": True,
            "operations": [{"kind": "position", "content_id": "alps-1", "values": {"state": "hidden"}}],
        },
        format="json",
    )
    assert built.status_code == 201 and built.json()["group"] == "DACH"
    listed = api(admin_user).get("/api/v1/change-requests/?group=dach&state=submitted").json()["results"]
    assert [r["id"] for r in listed] == [built.json()["id"]]
    both = api(manager).post(
        "/api/v1/change-requests/",
        {"group": "DACH", "market": "DE", "title": "x", "operations": [{"kind": "settings"}]},
        format="json",
    )
    assert both.status_code == 400


def test_the_group_policy_page_and_api_are_for_admins_and_managers_of_the_group(
    dach: MarketGroup, dach_markets: dict[str, Market], manager: User, admin_user: User
) -> None:
    de_only = person("de-only", Role.MARKET_MANAGER, dach_markets["DE"])
    assert login(de_only).get("/requests/policy/groups/DACH/").status_code == 403
    assert (
        login(de_only).post("/requests/policy/groups/DACH/", {"approvals_required": "1"}).status_code == 403
    )
    page = login(manager).get("/requests/policy/groups/DACH/").content.decode()
    assert 'id="group-policy-note"' in page and 'name="settings"' not in page
    saved = login(manager).post("/requests/policy/groups/DACH/", {"approvals_required": "1", "rules": "on"})
    assert saved.status_code == 302
    assert dach.approval_policy.approvals_required == 1 and dach.approval_policy.rules
    # The API: read for those who see the group, write for its managers
    assert api(de_only).get("/api/v1/groups/DACH/approval-policy/").json()["approvals_required"] == 1
    assert (
        api(de_only)
        .put("/api/v1/groups/DACH/approval-policy/", {"approvals_required": 2}, format="json")
        .status_code
        == 403
    )
    put = api(admin_user).put(
        "/api/v1/groups/DACH/approval-policy/", {"approvals_required": 2, "positions": True}, format="json"
    )
    assert put.status_code == 200 and put.json() == {
        "approvals_required": 2,
        "rules": False,
        "settings": False,
        "positions": True,
        "bulk_threshold": None,
    }
    bad = api(admin_user).put(
        "/api/v1/groups/DACH/approval-policy/", {"approvals_required": 1, "settings": True}, format="json"
    )
    assert bad.status_code == 400
    assert api(admin_user).get("/api/v1/groups/NOPE/approval-policy/").status_code == 404
    # The market policy API too
    market = api(admin_user).put(
        "/api/v1/markets/DE/approval-policy/", {"approvals_required": 1, "rules": True}, format="json"
    )
    assert market.status_code == 200 and market.json()["rules"] is True
    assert (
        api(de_only)
        .put("/api/v1/markets/AT/approval-policy/", {"approvals_required": 1}, format="json")
        .status_code
        == 403
    )


def test_lists_and_dashboard_hold_group_requests_in_few_queries(
    reviewed: MarketGroup,
    manager: User,
    admin_user: User,
    items: list[ContentItem],
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(12):
        request_create(
            actor=manager,
            group=reviewed,
            title=f"Group request {n}",
            operations=[Operation.position(items[n % 3], PositionChange(state="hidden"))],
            submit=True,
        )
    group_manager = person("dach-group", Role.MARKET_MANAGER, group=reviewed)
    reviewer = login(group_manager)
    with django_assert_max_num_queries(14):
        listed = reviewer.get("/requests/?state=submitted&market=DACH")
    assert listed.content.decode().count("group DACH") >= 12
    admin = api(admin_user)
    with django_assert_max_num_queries(12):
        api_list = admin.get("/api/v1/change-requests/?group=DACH&page_size=50")
    assert len(api_list.json()["results"]) == 12
    dashboard = reviewer.get("/").content.decode()
    assert 'id="review-queue"' in dashboard and "Group request 11" in dashboard
    assert "Group request 11" in login(manager).get("/").content.decode()
    # Someone with no group right has no group request waiting for review
    plain = UserFactory(username="nobody")
    assert 'id="review-queue"' not in login(plain).get("/").content.decode()


def test_a_group_position_reset_and_a_rule_deletion_join_the_draft_and_a_stale_edit_is_refused(
    dach: MarketGroup, manager: User, admin_user: User, items: list[ContentItem]
) -> None:
    from content.services.group_positions import group_position_set
    from markets.groups.services import group_rule_create, group_rule_update
    from portal.change_requests.services import group_policy_set

    position = group_position_set(
        actor=None, group=dach, item=items[0], change=PositionChange(state="hidden")
    )
    rule = group_rule_create(actor=None, group=dach, action="hide", match_sources=["old"])
    # The group's own policy reviews rules and positions (no member asks for it)
    group_policy_set(actor=admin_user, group=dach, approvals_required=2, rules=True, positions=True)
    c = login(manager)
    reset = c.post(f"/groups/DACH/positions/{items[0].pk}/reset/", {"version": position.version})
    cr = ChangeRequest.objects.get()
    assert reset.status_code == 302 and reset["Location"] == f"/requests/{cr.pk}/"
    deleted = c.post(f"/groups/DACH/rules/{rule.pk}/delete/", {"version": rule.version})
    assert deleted.status_code == 302 and cr.operations.count() == 2
    assert (
        GroupPosition.objects.get(pk=position.pk).state == "hidden"
        and GroupRule.objects.filter(pk=rule.pk).exists()
    )
    # An edit made from a version that changed meanwhile is refused, as a direct edit would be
    stale_version = rule.version
    group_rule_update(actor=None, rule=rule, note="meanwhile")
    stale = c.post(
        f"/groups/DACH/rules/{rule.pk}/",
        {"version": stale_version, "action": "hide", "match_sources": "new"},
    )
    assert stale.status_code == 409 and cr.operations.count() == 2
    # Submitted, it needs the group's two approvals
    c.post(f"/requests/{cr.pk}/submit/")
    cr.refresh_from_db()
    assert cr.state == RequestState.SUBMITTED and cr.approvals_required == 2
