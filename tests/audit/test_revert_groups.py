"""Reverting market groups' changes from the audit log: group positions (one or a bulk change) and
group rules, through the group services, with the market revert's semantics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership, Role, User
from content.models import ContentItem, GroupPosition
from content.services import PositionChange, group_position_set, group_positions_bulk_set
from markets.groups.services import group_members_set, group_rule_create, group_rule_delete, group_rule_update
from markets.models import GroupRule, Market, MarketGroup
from portal.audit.models import AuditEntry
from portal.audit.revert.selectors import Outcome, RevertTarget, revert_preview
from portal.audit.revert.services import revert_apply
from portal.errors import NotFound
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, MarketFactory, UserFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


def _promote(actor: User | None, group: MarketGroup, items: list[ContentItem]) -> uuid.UUID:
    result = group_positions_bulk_set(
        actor=actor,
        group=group,
        item_ids=[i.pk for i in items],
        change=PositionChange(
            state="promoted", boost=3, reason="Alpine week", ends_at=datetime.now(UTC) + timedelta(days=7)
        ),
    )
    return uuid.UUID(result.batch)


def test_reverting_a_group_bulk_change_restores_each_position_and_leaves_the_changed_ones(
    admin_user: User, dach: MarketGroup
) -> None:
    # Given one item hidden in DACH before, then four promoted in DACH in one bulk change
    items = ContentItemFactory.create_batch(4)
    group_position_set(
        actor=admin_user, group=dach, item=items[0], change=PositionChange(state="hidden", reason="legal")
    )
    batch = _promote(admin_user, dach, items)
    # and someone else changed one of them again since
    greta = person("greta", Role.EDITOR, group=dach)
    group_position_set(actor=greta, group=dach, item=items[1], change=PositionChange(state="shown"))

    # When the admin previews and then reverts the whole bulk change
    plan = revert_preview(user=admin_user, target=RevertTarget(batch=batch))
    assert len(plan.to_revert) == 3 and [s.entry.object_id for s in plan.changed_since] == [
        items[1].upstream_id
    ]
    assert "greta" in plan.changed_since[0].reason
    _, result = revert_apply(actor=admin_user, target=RevertTarget(batch=batch))

    # Then three are back as before (one hidden, two with no position) and the changed one is left
    assert result.reverted == 3 and [f.entry_id for f in result.skipped] == [plan.changed_since[0].entry.pk]
    states = {p.item.upstream_id: (p.state, p.reason) for p in GroupPosition.objects.select_related("item")}
    assert states[items[0].upstream_id] == ("hidden", "legal")
    assert states[items[1].upstream_id][0] == "shown"
    assert states[items[2].upstream_id][0] == states[items[3].upstream_id][0] == "default"
    # and each inverse change is audited as a revert of its entry, in one batch, and published
    reverts = AuditEntry.objects.filter(reverts__isnull=False)
    assert reverts.count() == 3 and len({e.batch for e in reverts}) == 1
    assert {e.object_type for e in reverts} == {"group_position"} and {e.market_code for e in reverts} == {
        "DACH"
    }
    assert str(reverts[0].batch) == result.batch
    assert OutboxEntry.objects.filter(kind="position", key=f"DACH|{items[0].upstream_id}", version=3).exists()
    # A second revert finds nothing left to undo
    _, again = revert_apply(actor=admin_user, target=RevertTarget(batch=batch))
    assert again.reverted == 0 and again.unchanged == 3


def test_a_ticked_changed_group_position_is_reverted_anyway(admin_user: User, dach: MarketGroup) -> None:
    item = ContentItemFactory()
    group_position_set(actor=admin_user, group=dach, item=item, change=PositionChange(state="hidden"))
    group_position_set(actor=admin_user, group=dach, item=item, change=PositionChange(state="shown"))
    first = AuditEntry.objects.filter(object_type="group_position").order_by("id").first()
    assert first is not None
    _, skipped = revert_apply(actor=admin_user, target=RevertTarget(entry_id=first.pk))
    assert skipped.reverted == 0 and skipped.skipped
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=first.pk), force={first.pk})
    assert result.reverted == 1
    position = GroupPosition.objects.get()
    assert (position.state, position.version) == ("default", 3)
    assert AuditEntry.objects.get(reverts=first).action == "position.reset"


def test_a_group_position_revert_can_itself_be_reverted(admin_user: User, dach: MarketGroup) -> None:
    item = ContentItemFactory()
    group_position_set(
        actor=admin_user, group=dach, item=item, change=PositionChange(state="promoted", boost=2)
    )
    entry = AuditEntry.objects.get(object_type="group_position")
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=entry.pk))
    undo = AuditEntry.objects.get(reverts=entry)
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=undo.pk))
    position = GroupPosition.objects.get()
    assert (position.state, position.boost, position.version) == ("promoted", 2, 3)


def test_group_rules_created_updated_and_deleted_are_reverted_through_the_group_services(
    admin_user: User, dach: MarketGroup
) -> None:
    rule = group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["gossip"])
    group_rule_update(actor=admin_user, rule=rule, note="youth protection")
    update = AuditEntry.objects.get(action="group_rule.update")
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=update.pk))
    assert result.reverted == 1 and GroupRule.objects.get().note == ""
    assert AuditEntry.objects.get(action="group_rule.update", reverts=update).after["note"] == ""
    # The creation was followed by changes: changed since, left alone unless ticked
    create = AuditEntry.objects.get(action="group_rule.create", reverts__isnull=True)
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=create.pk))
    assert plan.steps[0].outcome == Outcome.CHANGED_SINCE
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=create.pk))
    assert result.reverted == 0 and result.skipped and GroupRule.objects.exists()
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=create.pk), force={create.pk})
    assert not GroupRule.objects.exists()
    # Reverting the deletion brings the rule back, as a new rule of the group
    deletion = AuditEntry.objects.get(action="group_rule.delete")
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=deletion.pk))
    back = GroupRule.objects.get()
    assert (back.group, back.action, back.match_sources) == (dach, "hide", ["gossip"])
    assert AuditEntry.objects.get(action="group_rule.create", reverts=deletion).object_id == str(back.pk)
    assert OutboxEntry.objects.filter(kind="market", key="DACH", version=dach.version + 5).exists()


def test_an_old_group_rule_deletion_is_restored_and_a_vanished_rule_is_nothing_to_do(
    admin_user: User, dach: MarketGroup
) -> None:
    rule = group_rule_create(
        actor=admin_user, group=dach, action="promote", boost=2, match_sources=["natgeo"]
    )
    create = AuditEntry.objects.get(action="group_rule.create")
    group_rule_delete(actor=admin_user, rule=rule)
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=create.pk))
    assert plan.steps[0].outcome == Outcome.NOTHING_TO_DO


def test_people_who_may_not_edit_the_group_are_refused_and_nothing_changes(
    admin_user: User, dach: MarketGroup, dach_markets: dict[str, Market]
) -> None:
    # Given a group position and a group rule, and Lukas: manager of DE only (DACH has AT and CH)
    item = ContentItemFactory()
    group_position_set(actor=admin_user, group=dach, item=item, change=PositionChange(state="hidden"))
    group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["gossip"])
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    for object_type in ("group_position", "group_rule"):
        entry = AuditEntry.objects.get(object_type=object_type)
        # He reads the entries (a member is his) but may not revert them
        plan, result = revert_apply(actor=lukas, target=RevertTarget(entry_id=entry.pk))
        assert plan.steps[0].outcome == Outcome.REFUSED and "in group DACH" in plan.steps[0].reason
        assert result.reverted == 0 and len(result.refused) == 1
    assert GroupPosition.objects.get().state == "hidden" and GroupRule.objects.count() == 1
    # An editor of every member may revert the position but not the rule
    mia = person("mia", Role.EDITOR, *dach_markets.values())
    position_entry = AuditEntry.objects.get(object_type="group_position")
    rule_entry = AuditEntry.objects.get(object_type="group_rule")
    assert (
        revert_preview(user=mia, target=RevertTarget(entry_id=position_entry.pk)).steps[0].outcome == "revert"
    )
    assert revert_preview(user=mia, target=RevertTarget(entry_id=rule_entry.pk)).steps[0].outcome == "refused"
    # Someone who sees no member does not find the entries; a reviewer may not read the log
    fr_editor = person("fr-editor", Role.EDITOR, MarketFactory(code="FR"))
    with pytest.raises(NotFound):
        revert_preview(user=fr_editor, target=RevertTarget(entry_id=position_entry.pk))
    reviewer = person("priya", Role.REVIEWER)
    response = Client()
    response.force_login(reviewer)
    assert response.get(f"/audit/{position_entry.pk}/revert/").status_code == 403


def test_a_group_revert_that_needs_approval_becomes_one_group_change_request(
    admin_user: User, dach: MarketGroup, dach_markets: dict[str, Market]
) -> None:
    from portal.change_requests.models import ChangeRequest, RequestState
    from portal.change_requests.services import policy_set, request_apply, request_approve

    # Given a DACH bulk change of 3 items and a rule, and AT now reviewing positions and rules
    items = ContentItemFactory.create_batch(3)
    batch = _promote(admin_user, dach, items)
    group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["gossip"])
    policy_set(actor=admin_user, market=dach_markets["AT"], approvals_required=1, positions=True, rules=True)

    # Then the confirmation says where approval is needed before anything is written
    client = Client()
    client.force_login(admin_user)
    confirm = client.get(f"/audit/batches/{batch}/revert/").content.decode()
    assert "Changes in group DACH need approval there" in confirm

    # When the admin reverts the bulk change, then nothing changes yet: one submitted DACH request
    _, result = revert_apply(actor=admin_user, target=RevertTarget(batch=batch))
    assert result.reverted == 0 and result.refused == []
    request = ChangeRequest.objects.get()
    assert result.requests == [("DACH", request.pk)]
    assert (request.group, request.market, request.state) == (dach, None, RequestState.SUBMITTED)
    assert request.title == "Revert of 3 changes in group DACH"
    assert request.operations.count() == 3
    assert GroupPosition.objects.filter(state="promoted").count() == 3

    # And the rule's revert is a request of its own, the rule untouched meanwhile
    rule_entry = AuditEntry.objects.get(action="group_rule.create")
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=rule_entry.pk))
    assert result.reverted == 0 and len(result.requests) == 1 and GroupRule.objects.count() == 1

    # When another admin approves the first request and it applies
    other = UserFactory(username="second-admin")
    Membership.objects.create(user=other, role=Role.ADMIN, market=None)
    request_approve(actor=other, request=request)
    request.refresh_from_db()
    request_apply(request=request)

    # Then the 3 group positions are back to what they were (no position: default)
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    assert GroupPosition.objects.filter(state="promoted").count() == 0


def test_group_settings_and_members_say_why_they_are_not_reverted(
    admin_user: User, dach: MarketGroup, fr: Market
) -> None:
    group_members_set(actor=admin_user, group=dach, add=[fr])
    entry = AuditEntry.objects.get(action="group.member_join", market_code="FR")
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=entry.pk))
    assert plan.steps[0].outcome == Outcome.NOT_REVERTABLE
    assert "change the group on its page" in plan.steps[0].reason


def test_reverting_a_group_bulk_change_of_200_items_takes_a_bounded_number_of_queries(
    admin_user: User, dach: MarketGroup, django_assert_max_num_queries: Any
) -> None:
    items = ContentItemFactory.create_batch(200)
    batch = _promote(admin_user, dach, items)
    greta = person("greta", Role.EDITOR, group=dach)
    group_positions_bulk_set(
        actor=greta, group=dach, item_ids=[i.pk for i in items[:20]], change=PositionChange(state="hidden")
    )
    with django_assert_max_num_queries(12):
        plan = revert_preview(user=admin_user, target=RevertTarget(batch=batch))
    assert len(plan.to_revert) == 180 and len(plan.changed_since) == 20
    admin = User.objects.get(pk=admin_user.pk)
    with django_assert_max_num_queries(30):
        _, result = revert_apply(actor=admin, target=RevertTarget(batch=batch))
    assert result.reverted == 180 and len(result.skipped) == 20


def test_the_revert_pages_and_the_api_revert_group_changes(
    admin_user: User, dach: MarketGroup, dach_markets: dict[str, Market]
) -> None:
    items = ContentItemFactory.create_batch(2)
    batch = _promote(admin_user, dach, items)
    client = Client()
    client.force_login(admin_user)
    # The log offers the revert of a group rule change; the confirmation lists the group's entries
    group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["gossip"])
    rule_entry = AuditEntry.objects.get(action="group_rule.create")
    log = client.get("/audit/").content.decode()
    assert f'href="/audit/{rule_entry.pk}/revert/"' in log
    confirm = client.get(f"/audit/batches/{batch}/revert/").content.decode()
    assert "2 changes will be reverted" in confirm and "DACH" in confirm
    assert "no group position: the members decide as before" in confirm
    rule_confirm = client.get(f"/audit/{rule_entry.pk}/revert/").content.decode()
    assert "the rule is deleted" in rule_confirm and 'href="/groups/DACH/"' in rule_confirm
    done = client.post(f"/audit/batches/{batch}/revert/").content.decode()
    assert "2 changes reverted, 0 skipped, 0 refused" in done
    # The REST API: a dry run, then for real
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_user)
    dry = api.post(f"/api/v1/audit/entries/{rule_entry.pk}/revert/", {"dry_run": True}, format="json")
    assert dry.status_code == 200 and [s["object_type"] for s in dry.json()["will_revert"]] == ["group_rule"]
    real = api.post(f"/api/v1/audit/entries/{rule_entry.pk}/revert/", {}, format="json")
    assert real.status_code == 200 and real.json()["reverted"] == 1 and not GroupRule.objects.exists()
    # A DE manager may read but not revert it (refused, listed); an outsider gets 404
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    api.force_authenticate(lukas)
    undo = AuditEntry.objects.get(reverts=rule_entry)
    refused = api.post(f"/api/v1/audit/entries/{undo.pk}/revert/", {}, format="json").json()
    assert refused["reverted"] == 0 and "in group DACH" in refused["refused"][0]["reason"]
    api.force_authenticate(person("fr-editor", Role.EDITOR, MarketFactory(code="FR")))
    assert api.post(f"/api/v1/audit/entries/{undo.pk}/revert/", {}, format="json").status_code == 404
