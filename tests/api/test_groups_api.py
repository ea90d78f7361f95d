"""/api/v1/groups/: groups, members, group rules and group positions — scope, denials, errors."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from content.models import ContentItem, GroupPosition
from markets.groups.services import group_create
from markets.models import GroupRule, Market, MarketGroup
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, MarketFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


def client(user: User) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


@pytest.fixture
def items(db: None) -> list[ContentItem]:
    return [ContentItemFactory(upstream_id=f"alps-{n}") for n in range(3)]


def test_groups_are_listed_by_what_the_caller_sees_paged_and_filtered(
    admin_user: User, dach: MarketGroup, fr: Market, django_assert_max_num_queries: Any
) -> None:
    group_create(actor=None, code="EU", name="European Union", members=[fr, Market.objects.get(code="DE")])
    group_create(actor=None, code="LATAM", name="Latin America", members=[MarketFactory(code="BR")])
    admin = client(admin_user)
    with django_assert_max_num_queries(8):
        page = admin.get("/api/v1/groups/?page_size=2").json()
    assert [g["code"] for g in page["results"]] == ["DACH", "EU"]
    assert page["results"][0]["members"] == ["AT", "CH", "DE"]
    assert [g["code"] for g in admin.get(page["next"]).json()["results"]] == ["LATAM"]
    assert [g["code"] for g in admin.get("/api/v1/groups/?member=FR").json()["results"]] == ["EU"]
    # An editor of FR sees only FR's group
    editor = client(person("fr-editor", Role.EDITOR, fr))
    assert [g["code"] for g in editor.get("/api/v1/groups/").json()["results"]] == ["EU"]
    assert editor.get("/api/v1/groups/DACH/").status_code == 403
    assert editor.get("/api/v1/groups/NOPE/").status_code == 404
    assert editor.get("/api/v1/groups/%00/").status_code == 404


def test_admins_create_and_change_groups_and_members(admin_user: User, dach: MarketGroup, fr: Market) -> None:
    admin = client(admin_user)
    created = admin.post(
        "/api/v1/groups/",
        {"code": "EU", "name": "European Union", "priority": 20, "members": ["DE", "FR"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["members"] == ["DE", "FR"]
    # Field errors, never 500
    assert admin.post("/api/v1/groups/", {"code": "DE", "name": "x"}, format="json").status_code == 400
    bad = admin.post("/api/v1/groups/", {"code": "APAC", "name": "x", "members": ["ZZ"]}, format="json")
    assert bad.status_code == 400 and "members" in bad.json()
    assert (
        admin.post("/api/v1/groups/", {"code": "APAC", "name": "x", "typo": 1}, format="json").status_code
        == 400
    )
    # Rename with If-Match, then a stale one is refused
    etag = admin.get("/api/v1/groups/DACH/")["ETag"]
    renamed = admin.patch("/api/v1/groups/DACH/", {"name": "D-A-CH"}, format="json", HTTP_IF_MATCH=etag)
    assert renamed.status_code == 200 and renamed.json()["name"] == "D-A-CH"
    assert (
        admin.patch("/api/v1/groups/DACH/", {"name": "x"}, format="json", HTTP_IF_MATCH=etag).status_code
        == 412
    )
    # Members
    changed = admin.post("/api/v1/groups/DACH/members/", {"add": ["FR"], "remove": ["DE"]}, format="json")
    assert changed.status_code == 200
    assert changed.json() == {"joined": ["FR"], "left": ["DE"], "members": ["AT", "CH", "FR"]}
    assert AuditEntry.objects.filter(object_repr="FR joined DACH", via="api").exists()
    assert admin.get("/api/v1/groups/DACH/members/").json()["members"] == ["AT", "CH", "FR"]


def test_a_manager_of_every_member_may_not_create_groups_or_change_members(dach: MarketGroup) -> None:
    manager = client(
        person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    )
    before = (MarketGroup.objects.count(), AuditEntry.objects.count(), OutboxEntry.objects.count())
    assert manager.post("/api/v1/groups/", {"code": "EU", "name": "EU"}, format="json").status_code == 403
    assert manager.patch("/api/v1/groups/DACH/", {"name": "x"}, format="json").status_code == 403
    assert manager.post("/api/v1/groups/DACH/members/", {"remove": ["DE"]}, format="json").status_code == 403
    assert (MarketGroup.objects.count(), AuditEntry.objects.count(), OutboxEntry.objects.count()) == before
    # But he may set DACH's rules, binding ones included
    created = manager.post(
        "/api/v1/groups/DACH/rules/",
        {"action": "hide", "match_sources": ["gossip"], "binding": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["binding"] is True
    rule_url = f"/api/v1/groups/DACH/rules/{created.json()['id']}/"
    assert manager.patch(rule_url, {"note": "court order"}, format="json").json()["version"] == 2
    assert (
        manager.get("/api/v1/groups/DACH/rules/?binding=true").json()["results"][0]["note"] == "court order"
    )
    assert manager.delete(rule_url).status_code == 204


def test_a_manager_of_de_only_cannot_edit_dach_rules(dach: MarketGroup) -> None:
    rule = GroupRule.objects.create(group=dach, action="hide", match_sources=["gossip"])
    manager = client(person("de-only", Role.MARKET_MANAGER, Market.objects.get(code="DE")))
    assert manager.get("/api/v1/groups/DACH/rules/").status_code == 200
    assert (
        manager.post(
            "/api/v1/groups/DACH/rules/", {"action": "hide", "match_sources": ["x"]}, format="json"
        ).status_code
        == 403
    )
    assert (
        manager.patch(f"/api/v1/groups/DACH/rules/{rule.pk}/", {"note": "x"}, format="json").status_code
        == 403
    )
    assert manager.delete(f"/api/v1/groups/DACH/rules/{rule.pk}/").status_code == 403
    assert GroupRule.objects.get().version == 1


def test_group_positions_one_and_bulk_with_denials(dach: MarketGroup, items: list[ContentItem]) -> None:
    mia = client(person("mia", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT", "CH"])))
    one = mia.put(
        "/api/v1/groups/DACH/positions/alps-0/",
        {"state": "promoted", "boost": 5, "reason": "Alps week"},
        format="json",
    )
    assert one.status_code == 200, one.json()
    assert (one.json()["group"], one.json()["version"], one["ETag"]) == ("DACH", 1, '"position-1"')
    pinned = mia.put("/api/v1/groups/DACH/positions/alps-1/", {"state": "pinned"}, format="json")
    assert pinned.status_code == 400 and "state" in pinned.json()
    assert (
        mia.put(
            "/api/v1/groups/DACH/positions/alps-1/", {"state": "shown", "slot": 1}, format="json"
        ).status_code
        == 400
    )
    bulk = mia.post(
        "/api/v1/groups/DACH/positions/bulk/",
        {
            "content_ids": ["alps-0", "alps-1", "alps-2", "nope"],
            "state": "promoted",
            "boost": 5,
            "reason": "Alps week",
        },
        format="json",
    )
    assert bulk.status_code == 200
    assert (bulk.json()["changed"], bulk.json()["unchanged"]) == (2, 1)
    assert bulk.json()["refused"][0]["content_id"] == "nope"
    assert GroupPosition.objects.count() == 3
    listed = mia.get("/api/v1/groups/DACH/positions/?state=promoted").json()["results"]
    assert len(listed) == 3
    reset = mia.delete("/api/v1/groups/DACH/positions/alps-0/")
    assert reset.json()["state"] == "default"
    # An editor of DE and AT may not, while CH is a member
    de_at = client(person("de-at", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT"])))
    assert (
        de_at.put("/api/v1/groups/DACH/positions/alps-1/", {"state": "hidden"}, format="json").status_code
        == 403
    )
    assert (
        de_at.post(
            "/api/v1/groups/DACH/positions/bulk/",
            {"content_ids": ["alps-1"], "state": "hidden"},
            format="json",
        ).status_code
        == 403
    )
    assert de_at.get("/api/v1/groups/DACH/positions/").status_code == 200
    assert not GroupPosition.objects.filter(state="hidden").exists()


def test_resolve_names_the_step_and_the_group_that_decided(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    from content.services import PositionChange, group_position_set

    group_position_set(
        actor=None, group=dach, item=items[0], change=PositionChange(state="promoted", boost=5)
    )
    body = client(admin_user).get("/api/v1/markets/AT/resolve?content_id=alps-0").json()
    assert (body["state"], body["decided_by"], body["step"], body["source"], body["binding"]) == (
        "promoted",
        "group_position",
        3,
        "DACH",
        False,
    )


def test_a_members_approval_policy_is_not_bypassed_through_its_group(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    from portal.change_requests.services import policy_set

    # Given DE, a DACH member, whose rules and positions need one approval
    policy_set(
        actor=admin_user,
        market=Market.objects.get(code="DE"),
        approvals_required=1,
        rules=True,
        positions=True,
    )
    admin = client(admin_user)
    # Then group positions and rules become submitted group requests (202), and nothing is written
    one = admin.put("/api/v1/groups/DACH/positions/alps-0/", {"state": "hidden"}, format="json")
    assert one.status_code == 202 and one.json()["group"] == "DACH" and one.json()["state"] == "submitted"
    bulk = admin.post(
        "/api/v1/groups/DACH/positions/bulk/", {"content_ids": ["alps-0"], "state": "hidden"}, format="json"
    )
    assert bulk.status_code == 202 and bulk.json()["market"] is None
    rule = admin.post("/api/v1/groups/DACH/rules/", {"action": "hide", "match_sources": ["x"]}, format="json")
    assert rule.status_code == 202 and rule.json()["approvals_required"] == 1
    assert not GroupPosition.objects.exists() and not GroupRule.objects.exists()


def test_a_group_bulk_counts_what_a_members_binding_rule_keeps_hidden(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    from markets.services import rule_create

    # Given a binding DE rule hiding the items' source
    rule_create(
        actor=admin_user,
        market=Market.objects.get(code="DE"),
        action="hide",
        match_sources=[items[0].source],
        binding=True,
        note="youth protection",
    )
    # When DACH promotes them
    body = (
        client(admin_user)
        .post(
            "/api/v1/groups/DACH/positions/bulk/",
            {"content_ids": ["alps-0", "alps-1"], "state": "promoted", "boost": 2},
            format="json",
        )
        .json()
    )
    # Then the summary says they stay hidden in DE (and only there)
    assert body["changed"] == 2
    assert [(o["market"], o["count"]) for o in body["will_stay_hidden"]] == [("DE", 2)]
