"""Group pages: list, new group, a group's page with members, rules, positions and a preview."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Role, User
from content.models import ContentItem
from content.services import PositionChange, group_position_set
from markets.groups.services import group_create, group_rule_create
from markets.models import GroupRule, Market, MarketGroup
from portal.audit.models import AuditEntry
from tests.factories import MarketFactory
from tests.groups import person
from tests.ui.conftest import login

pytestmark = pytest.mark.django_db


def test_the_list_shows_the_groups_a_user_sees_in_few_queries(
    admin_user: User, dach: MarketGroup, fr: Market, django_assert_max_num_queries: Any
) -> None:
    group_create(actor=None, code="EU", name="European Union", members=[fr, Market.objects.get(code="DE")])
    for code in ("LATAM", "APAC", "NORDICS"):
        group_create(
            actor=None, code=code, name=code, members=[MarketFactory(code=c) for c in ("BR", "JP", "SE")]
        )
    client = login(admin_user)
    client.get("/groups/")
    with django_assert_max_num_queries(10):
        page = client.get("/groups/")
    assert page.status_code == 200
    assert b"New group" in page.content and b"DACH" in page.content
    editor = login(person("fr-editor", Role.EDITOR, fr))
    body = editor.get("/groups/").content.decode()
    assert "EU" in body and "DACH" not in body and "New group" not in body
    assert editor.get("/groups/DACH/").status_code == 403
    assert editor.get("/groups/NOPE/").status_code == 404


def test_an_admin_creates_a_group_and_changes_its_members(
    admin_user: User, dach: MarketGroup, fr: Market
) -> None:
    client = login(admin_user)
    assert client.get("/groups/new/").status_code == 200
    response = client.post(
        "/groups/new/", {"code": "EU", "name": "European Union", "priority": "20", "members": ["DE", "FR"]}
    )
    assert response.status_code == 302
    assert sorted(MarketGroup.objects.get(code="EU").members.values_list("code", flat=True)) == ["DE", "FR"]
    bad = client.post("/groups/new/", {"code": "DE", "name": "Germany", "priority": "1"})
    assert bad.status_code == 422 and b"market code" in bad.content
    response = client.post(
        "/groups/DACH/members/", {"add": ["FR"], "remove": ["DE"], "version": dach.version}
    )
    assert response.status_code == 302
    assert AuditEntry.objects.filter(object_repr="FR joined DACH").exists()
    assert AuditEntry.objects.filter(object_repr="DE left DACH").exists()
    settings = client.post(
        "/groups/DACH/settings/",
        {
            "name": "D-A-CH",
            "priority": "5",
            "description": "",
            "active": "on",
            "version": MarketGroup.objects.get(code="DACH").version,
        },
    )
    assert settings.status_code == 302
    assert MarketGroup.objects.get(code="DACH").name == "D-A-CH"


def test_managers_and_editors_may_not_change_groups(dach: MarketGroup) -> None:
    manager = login(person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH"])))
    assert manager.get("/groups/new/").status_code == 403
    assert manager.post("/groups/new/", {"code": "EU", "name": "EU", "priority": "1"}).status_code == 403
    assert (
        manager.post("/groups/DACH/members/", {"remove": ["DE"], "version": dach.version}).status_code == 403
    )
    assert manager.get("/groups/DACH/settings/").status_code == 403
    assert not MarketGroup.objects.filter(code="EU").exists()


def test_a_manager_of_every_member_adds_a_binding_rule_a_de_manager_may_not(dach: MarketGroup) -> None:
    manager = login(person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH"])))
    assert manager.get("/groups/DACH/rules/new/").status_code == 200
    response = manager.post(
        "/groups/DACH/rules/new/",
        {"action": "hide", "match_sources": "gossip", "binding": "on", "note": "youth"},
    )
    assert response.status_code == 302, response.content
    rule = GroupRule.objects.get()
    assert rule.binding
    de_only = login(person("de-only", Role.MARKET_MANAGER, Market.objects.get(code="DE")))
    page = de_only.get("/groups/DACH/").content.decode()
    assert "binding" in page and "Add a rule" not in page
    assert de_only.get("/groups/DACH/rules/new/").status_code == 403
    assert (
        de_only.post("/groups/DACH/rules/new/", {"action": "hide", "match_sources": "x"}).status_code == 403
    )
    assert de_only.post(f"/groups/DACH/rules/{rule.pk}/delete/", {"version": rule.version}).status_code == 403
    assert manager.post(f"/groups/DACH/rules/{rule.pk}/delete/", {"version": rule.version}).status_code == 302
    assert not GroupRule.objects.exists()


def test_the_group_page_previews_a_member_through_the_resolver(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    group_position_set(
        actor=None,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    group_rule_create(actor=None, group=dach, action="hide", match_sources=["natgeo-editorial"])
    body = login(admin_user).get("/groups/DACH/?preview=AT").content.decode()
    assert "Alps week" in body
    assert "group DACH" in body  # the decision names the group that decided
    assert 'value="AT" selected' in body


def test_the_bulk_panel_applies_a_change_to_a_group_once(dach: MarketGroup, items: list[ContentItem]) -> None:
    from content.models import GroupPosition, Position

    mia = person("mia", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    client = login(mia)
    board = client.get("/content/?market=DE").content.decode()
    assert "Apply to group DACH" in board
    response = client.post(
        "/content/bulk/",
        {
            "item": [str(i.pk) for i in items[:4]],
            "groups": ["DACH"],
            "action": "promote",
            "boost": "3",
            "reason": "Alps week",
        },
    )
    assert response.status_code == 200
    assert "4 positions set" in response.content.decode()
    assert GroupPosition.objects.filter(group=dach, state="promoted").count() == 4
    assert not Position.objects.exists()
    # A pin is refused for groups; an editor of DE and AT is refused DACH while CH is a member
    pin = client.post(
        "/content/bulk/", {"item": [str(items[0].pk)], "groups": ["DACH"], "action": "pin", "slot": "1"}
    )
    assert pin.status_code == 422 and "Pins stay per market" in pin.content.decode()
    de_at = login(person("de-at", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT"])))
    assert "Apply to group DACH" not in de_at.get("/content/?market=DE").content.decode()
    refused = de_at.post("/content/bulk/", {"item": [str(items[5].pk)], "groups": ["DACH"], "action": "hide"})
    assert "refused" in refused.content.decode()
    assert not GroupPosition.objects.filter(state="hidden").exists()


def test_the_item_matrix_and_board_say_which_step_and_group_decided(
    admin_user: User, dach: MarketGroup, fr: Market, items: list[ContentItem]
) -> None:
    group_position_set(
        actor=None,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    client = login(admin_user)
    body = client.get(f"/content/items/{items[0].upstream_id}/").content.decode()
    assert "Step 3, group position · group DACH" in body
    assert "Step 6, market default" in body  # FR, not a member
    board = client.get("/content/?market=AT").content.decode()
    assert "Step 3, group position · group DACH" in board
    preview = client.get("/markets/CH/preview/").content.decode()
    assert "group DACH" in preview


def test_the_audit_log_shows_group_changes_to_those_who_see_a_member(
    admin_user: User, dach: MarketGroup, fr: Market, items: list[ContentItem]
) -> None:
    group_rule_create(
        actor=admin_user, group=dach, action="hide", match_sources=["gossip"], note="court order"
    )
    group_position_set(actor=admin_user, group=dach, item=items[0], change=PositionChange(state="hidden"))
    de_editor = login(person("de-editor", Role.EDITOR, Market.objects.get(code="DE")))
    log = de_editor.get("/audit/").content.decode()
    assert "DE joined DACH" in log and "court order" in log
    history = de_editor.get(f"/content/items/{items[0].upstream_id}/").content.decode()
    assert '<span class="badge">DACH</span>' in history
    fr_editor = login(person("fr-editor", Role.EDITOR, fr))
    log = fr_editor.get("/audit/").content.decode()
    assert "DE joined DACH" not in log and "court order" not in log


def test_the_market_page_lists_its_groups(admin_user: User, dach: MarketGroup) -> None:
    group_create(
        actor=None, code="EU", name="European Union", priority=20, members=[Market.objects.get(code="DE")]
    )
    body = login(admin_user).get("/markets/DE/").content.decode()
    assert "In groups, strongest first" in body
    assert body.index(">DACH</a>") < body.index(">EU</a>")


def test_an_editor_of_every_member_resets_a_group_position_others_may_not(
    dach: MarketGroup, items: list[ContentItem]
) -> None:
    from content.models import GroupPosition

    position = group_position_set(
        actor=None, group=dach, item=items[0], change=PositionChange(state="hidden")
    )
    de_at = login(person("de-at", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT"])))
    url = f"/groups/DACH/positions/{items[0].pk}/reset/"
    assert de_at.post(url, {"version": position.version}).status_code == 403
    mia = login(person("mia", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT", "CH"])))
    assert "Reset ng-000 in DACH" in mia.get("/groups/DACH/").content.decode()
    assert mia.post(url, {"version": 99}).status_code == 302
    assert GroupPosition.objects.get().state == "hidden"  # a stale version changes nothing
    assert mia.post(url, {"version": position.version}).status_code == 302
    assert GroupPosition.objects.get().state == "default"


def test_a_group_rule_is_edited_with_its_version(dach: MarketGroup) -> None:
    manager = person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    rule = group_rule_create(actor=None, group=dach, action="hide", match_sources=["gossip"])
    client = login(manager)
    assert client.get(f"/groups/DACH/rules/{rule.pk}/").status_code == 200
    data = {
        "action": "hide",
        "match_sources": "gossip",
        "binding": "on",
        "note": "court order",
        "version": "1",
    }
    assert client.post(f"/groups/DACH/rules/{rule.pk}/", data).status_code == 302
    rule.refresh_from_db()
    assert (rule.binding, rule.note, rule.version) == (True, "court order", 2)
    stale = client.post(f"/groups/DACH/rules/{rule.pk}/", {**data, "note": "stale"})
    assert stale.status_code == 409
    de_only = login(person("de-only", Role.MARKET_MANAGER, Market.objects.get(code="DE")))
    assert de_only.post(f"/groups/DACH/rules/{rule.pk}/", {**data, "version": "2"}).status_code == 403
    rule.refresh_from_db()
    assert rule.note == "court order"


def test_mia_promotes_40_items_in_the_eu_for_a_week_and_every_eu_preview_shows_them(admin_user: User) -> None:
    from datetime import UTC, datetime, timedelta

    from content.selectors import market_preview
    from tests.factories import ContentItemFactory

    # Given the EU of five markets and 40 new items, and Mia, editor of every EU market
    members = [MarketFactory(code=code) for code in ("DE", "FR", "IT", "ES", "NL")]
    group_create(actor=None, code="EU", name="European Union", members=members)
    now = datetime.now(UTC)
    batch = [
        ContentItemFactory(upstream_id=f"ocean-{n:02d}", published_at=now - timedelta(days=30, minutes=n))
        for n in range(40)
    ]
    mia = login(person("mia", Role.EDITOR, *members))
    # When she promotes them in the group for a week, in one bulk action
    until = (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    response = mia.post(
        "/content/bulk/",
        {
            "item": [str(i.pk) for i in batch],
            "groups": ["EU"],
            "action": "promote",
            "boost": "5",
            "ends_at": until,
            "reason": "Ocean Week",
        },
    )
    assert "40 positions set" in response.content.decode()
    # Then every EU market's preview puts them first, promoted by the group
    for market in members:
        top = market_preview(market=market, at=now, limit=40)
        assert {r.candidate.content_id for r in top} == {i.upstream_id for i in batch}
        assert all(r.decision.source == "EU" and r.decision.step == 3 for r in top)
    # And a week later they are back to normal
    later = market_preview(market=members[0], at=now + timedelta(days=8), limit=40)
    assert not any(r.decision.state == "promoted" for r in later)


def test_the_bulk_panel_queues_a_group_change_whose_member_needs_approval(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    from content.models import GroupPosition
    from portal.change_requests.models import ChangeRequest
    from portal.change_requests.services import policy_set

    policy_set(actor=admin_user, market=Market.objects.get(code="AT"), approvals_required=1, positions=True)
    response = login(admin_user).post(
        "/content/bulk/", {"item": [str(items[0].pk)], "groups": ["DACH"], "action": "hide"}
    )
    # The group change is not written: it is the admin's draft group request, linked from the summary
    [cr] = ChangeRequest.objects.filter(group=dach)
    assert cr.state == "draft" and cr.operations.count() == 1
    assert f"group DACH: request #{cr.pk}" in response.content.decode()
    assert not GroupPosition.objects.exists()
