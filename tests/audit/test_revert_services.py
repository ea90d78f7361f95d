"""Reverting from the audit log: one change or a whole bulk change, through the services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from accounts.models import Membership, Role, User
from content.models import ContentItem, Position
from content.services import PositionChange, position_set, positions_bulk_set
from markets.models import Market, Rule
from markets.services import market_update, rule_create, rule_update
from portal.audit.models import AuditEntry
from portal.audit.revert.selectors import Outcome, RevertTarget, revert_preview
from portal.audit.revert.services import revert_apply
from portal.errors import NotFound
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, MarketFactory, UserFactory

pytestmark = pytest.mark.django_db


def _user(name: str, *grants: tuple[str, Market | None]) -> User:
    user = UserFactory(username=name)
    for role, market in grants:
        Membership.objects.create(user=user, role=role, market=market)
    return user


def _promote_in_bulk(actor: User, markets: list[Market], items: list[ContentItem]) -> str:
    ends = datetime.now(UTC) + timedelta(days=7)
    result = positions_bulk_set(
        actor=actor,
        markets=markets,
        item_ids=[i.pk for i in items],
        change=PositionChange(state="promoted", boost=3, ends_at=ends, reason="Ocean Week"),
    )
    return result.batch


def test_reverting_a_bulk_change_restores_every_position_and_skips_the_ones_changed_since(
    editor: User, au: Market, de: Market
) -> None:
    # Given a bulk promotion of 4 items in AU and DE; one of them was hidden in AU before
    items = ContentItemFactory.create_batch(4)
    position_set(
        actor=editor, market=au, item=items[0], change=PositionChange(state="hidden", reason="legal")
    )
    batch = _promote_in_bulk(editor, [au, de], items)
    # and another editor changed one position again since
    other = _user("lukas", (Role.EDITOR, None))
    position_set(actor=other, market=de, item=items[1], change=PositionChange(state="pinned", slot=1))
    # When the editor reverts the whole bulk change
    plan, result = revert_apply(actor=editor, target=RevertTarget(batch=uuid.UUID(batch)))
    # Then 7 positions are back as before and the changed one is listed, left alone
    assert result.reverted == 7
    assert [f.object_repr for f in result.skipped] == [f"{items[1].upstream_id} in DE"]
    assert "lukas" in result.skipped[0].reason
    hidden = Position.objects.get(market=au, item=items[0])
    assert (hidden.state, hidden.reason, hidden.boost) == ("hidden", "legal", 0)
    assert Position.objects.get(market=de, item=items[1]).state == "pinned"
    assert set(
        Position.objects.exclude(pk=hidden.pk).exclude(state="pinned").values_list("state", flat=True)
    ) == {"default"}
    # and every inverse change is audited as a revert of its entry, in one batch, and published
    reverts = AuditEntry.objects.filter(reverts__isnull=False)
    assert reverts.count() == 7 and len({e.batch for e in reverts}) == 1
    assert all(e.reverts.batch == uuid.UUID(batch) for e in reverts)
    assert OutboxEntry.objects.filter(kind="position", key=f"AU|{items[0].upstream_id}", version=3).exists()


def test_a_ticked_changed_since_entry_is_reverted_anyway(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(2)
    batch = _promote_in_bulk(editor, [au], items)
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="hidden"))
    entry = AuditEntry.objects.get(batch=batch, object_id=items[0].upstream_id)
    _, result = revert_apply(actor=editor, target=RevertTarget(batch=uuid.UUID(batch)), force={entry.pk})
    assert result.reverted == 2 and result.skipped == []
    assert set(Position.objects.values_list("state", flat=True)) == {"default"}


def test_reverting_twice_changes_nothing_the_second_time(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(3)
    batch = uuid.UUID(_promote_in_bulk(editor, [au], items))
    revert_apply(actor=editor, target=RevertTarget(batch=batch))
    count = AuditEntry.objects.count()
    plan, result = revert_apply(actor=editor, target=RevertTarget(batch=batch))
    assert result.reverted == 0 and result.unchanged == 3
    assert {s.outcome for s in plan.steps} == {Outcome.NOTHING_TO_DO}
    assert AuditEntry.objects.count() == count


def test_a_revert_can_itself_be_reverted(editor: User, au: Market) -> None:
    item = ContentItemFactory()
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="promoted", boost=2))
    entry = AuditEntry.objects.get()
    revert_apply(actor=editor, target=RevertTarget(entry_id=entry.pk))
    undo = AuditEntry.objects.get(reverts=entry)
    revert_apply(actor=editor, target=RevertTarget(entry_id=undo.pk))
    position = Position.objects.get()
    assert (position.state, position.boost, position.version) == ("promoted", 2, 3)


def test_positions_in_markets_the_user_may_not_edit_are_refused_and_left_alone(
    editor: User, au: Market, de: Market
) -> None:
    # Given Mia's bulk change in AU and DE, and an AU editor who reverts it
    items = ContentItemFactory.create_batch(2)
    batch = uuid.UUID(_promote_in_bulk(editor, [au, de], items))
    au_editor = _user("au-only", (Role.EDITOR, au))
    viewer = _user("de-viewer", (Role.EDITOR, au), (Role.REVIEWER, None))
    Membership.objects.create(user=viewer, role=Role.MARKET_MANAGER, market=de)
    # A DE manager who is an AU editor too may do both: reverts all 4
    plan = revert_preview(user=viewer, target=RevertTarget(batch=batch))
    assert len(plan.to_revert) == 4
    # The AU-only editor sees only AU's entries (DE's are outside their log) and reverts those
    plan, result = revert_apply(actor=au_editor, target=RevertTarget(batch=batch))
    assert {s.entry.market_code for s in plan.steps} == {"AU"}
    assert result.reverted == 2
    assert set(Position.objects.filter(market=de).values_list("state", flat=True)) == {"promoted"}


def test_a_market_the_user_reads_but_may_not_edit_is_refused(au: Market) -> None:
    # Given a rule created by a manager, and an editor (who may not edit rules) reverting it
    manager = _user("lukas", (Role.MARKET_MANAGER, au))
    rule_create(actor=manager, market=au, action="hide", match_content_types=["video"])
    entry = AuditEntry.objects.get(action="rule.create")
    editor = _user("mia", (Role.EDITOR, au))
    _, result = revert_apply(actor=editor, target=RevertTarget(entry_id=entry.pk))
    assert result.reverted == 0 and "may not edit rules in AU" in result.refused[0].reason
    assert Rule.objects.count() == 1


def test_entries_outside_the_users_markets_are_not_found(editor: User, au: Market, de: Market) -> None:
    item = ContentItemFactory()
    position_set(actor=editor, market=de, item=item, change=PositionChange(state="hidden"))
    entry = AuditEntry.objects.get()
    au_editor = _user("au-editor", (Role.EDITOR, au))
    with pytest.raises(NotFound):
        revert_apply(actor=au_editor, target=RevertTarget(entry_id=entry.pk))
    reviewer = _user("priya", (Role.REVIEWER, None))
    with pytest.raises(AccessDenied):
        revert_apply(actor=reviewer, target=RevertTarget(entry_id=entry.pk))
    assert Position.objects.get().state == "hidden"


def test_rules_created_updated_and_deleted_are_reverted_through_the_rule_services(
    admin_user: User, au: Market
) -> None:
    created = rule_create(actor=admin_user, market=au, action="hide", match_content_types=["video"])
    rule_update(actor=admin_user, rule=created, note="youth protection", boost=0)
    update = AuditEntry.objects.get(action="rule.update")
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=update.pk))
    assert Rule.objects.get().note == ""
    # The create was followed by changes: it is listed as changed since, and left alone
    create = AuditEntry.objects.get(action="rule.create")
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=create.pk))
    assert result.reverted == 0 and result.skipped
    # Forced, the rule goes
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=create.pk), force={create.pk})
    assert not Rule.objects.exists()
    # and reverting that deletion brings it back (as a new rule)
    deletion = AuditEntry.objects.get(action="rule.delete")
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=deletion.pk))
    back = Rule.objects.get()
    assert (back.action, back.match_content_types) == ("hide", ["video"])
    assert AuditEntry.objects.get(action="rule.create", reverts=deletion).object_id == str(back.pk)


def test_market_settings_are_reverted_unless_changed_since(admin_user: User, au: Market) -> None:
    market_update(actor=admin_user, market=au, timezone="Europe/Vienna")
    entry = AuditEntry.objects.get(action="market.update")
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=entry.pk))
    au.refresh_from_db()
    assert au.timezone == "Australia/Sydney"
    assert (
        AuditEntry.objects.get(action="market.update", reverts=entry).after["timezone"] == "Australia/Sydney"
    )


def test_entries_that_cannot_be_reverted_say_why(admin_user: User, au: Market) -> None:
    # An old entry from before whole positions were recorded, and a market creation
    old = AuditEntry.objects.create(
        actor_name="mia",
        action="position.set",
        market_code="AU",
        object_type="position",
        object_id="x-1",
        before={"state": "hidden"},
        after={"state": "promoted", "boost": 3},
    )
    created = AuditEntry.objects.create(
        actor_name="sam", action="market.create", market_code="AU", object_type="market", object_id="AU"
    )
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=old.pk))
    assert plan.steps[0].outcome == Outcome.NOT_REVERTABLE
    assert "before Meridian recorded whole positions" in plan.steps[0].reason
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=created.pk))
    assert plan.steps[0].outcome == Outcome.NOT_REVERTABLE and "deactivate" in plan.steps[0].reason


def test_a_pin_whose_slot_was_taken_since_is_refused_not_forced_over(editor: User, au: Market) -> None:
    first, second = ContentItemFactory.create_batch(2)
    position_set(actor=editor, market=au, item=first, change=PositionChange(state="pinned", slot=1))
    position_set(actor=editor, market=au, item=first, change=PositionChange(state="hidden"))
    position_set(actor=editor, market=au, item=second, change=PositionChange(state="pinned", slot=1))
    entry = AuditEntry.objects.filter(object_id=first.upstream_id).order_by("id").last()
    assert entry is not None
    _, result = revert_apply(actor=editor, target=RevertTarget(entry_id=entry.pk))
    assert result.reverted == 0 and "Slot 1" in result.refused[0].reason
    assert Position.objects.get(item=first).state == "hidden"


def test_restoring_a_state_whose_window_has_ended_is_faithful(editor: User, au: Market) -> None:
    import time_machine

    item = ContentItemFactory()
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC)):
        position_set(
            actor=editor,
            market=au,
            item=item,
            change=PositionChange(state="hidden", ends_at=datetime(2026, 2, 1, tzinfo=UTC)),
        )
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="promoted", boost=1))
    entry = AuditEntry.objects.filter(action="position.set").order_by("id").last()
    assert entry is not None
    revert_apply(actor=editor, target=RevertTarget(entry_id=entry.pk))
    position = Position.objects.get()
    assert (position.state, position.ends_at) == ("hidden", datetime(2026, 2, 1, tzinfo=UTC))


def test_reverting_480_positions_takes_a_bounded_number_of_queries(
    editor: User, django_assert_max_num_queries: Any
) -> None:
    markets = [
        MarketFactory(code=code)
        for code in ("AU", "DE", "AT", "GB", "FR", "IT", "ES", "NL", "SE", "NO", "DK", "FI")
    ]
    items = ContentItemFactory.create_batch(40)
    batch = uuid.UUID(_promote_in_bulk(editor, markets, items))
    # 30 of them changed since by someone else (who changed them is named: no query per row)
    other = _user("lukas", (Role.EDITOR, None))
    positions_bulk_set(
        actor=other,
        markets=markets[:3],
        item_ids=[i.pk for i in items[:10]],
        change=PositionChange(state="hidden"),
    )
    with django_assert_max_num_queries(20):
        plan = revert_preview(user=editor, target=RevertTarget(batch=batch))
    assert len(plan.to_revert) == 450 and len(plan.changed_since) == 30
    assert all("lukas" in step.reason for step in plan.changed_since)
    editor = User.objects.get(pk=editor.pk)
    # A bound that does not grow with the batch (12 markets' policies are one query).
    with django_assert_max_num_queries(42):
        _, result = revert_apply(actor=editor, target=RevertTarget(batch=batch))
    assert result.reverted == 450 and len(result.skipped) == 30


def test_a_bad_entry_id_is_not_found(editor: User) -> None:
    with pytest.raises(NotFound):
        revert_preview(user=editor, target=RevertTarget(entry_id=2**70))


def test_an_incoherent_restored_state_is_refused_as_a_whole(editor: User, au: Market) -> None:
    item = ContentItemFactory()
    AuditEntry.objects.create(
        actor_name="mia",
        action="position.set",
        market_code="AU",
        object_type="position",
        object_id=item.upstream_id,
        before={
            "state": "promoted",
            "boost": 0,
            "slot": None,
            "section": "",
            "starts_at": None,
            "ends_at": None,
            "reason": "",
            "version": 1,
        },
        after={
            "state": "hidden",
            "boost": 0,
            "slot": None,
            "section": "",
            "starts_at": None,
            "ends_at": None,
            "reason": "",
            "version": 0,
        },
    )
    entry = AuditEntry.objects.get()
    with pytest.raises(ValidationError):
        revert_apply(actor=editor, target=RevertTarget(entry_id=entry.pk))
    assert not Position.objects.exists()


# --- Reverts respect approval policies ----------------------------------------------------------


def test_a_revert_in_a_market_that_reviews_such_changes_becomes_one_submitted_request(
    editor: User, admin_user: User, au: Market, de: Market
) -> None:
    from portal.change_requests.models import ChangeRequest
    from portal.change_requests.services import policy_set

    # Given a bulk promotion in AU and DE, and DE now reviewing every position change
    items = ContentItemFactory.create_batch(3)
    batch = _promote_in_bulk(editor, [au, de], items)
    policy_set(actor=admin_user, market=de, approvals_required=1, positions=True)

    # Then the preview names DE (and only DE) as where the revert will be filed for approval
    from portal.audit.revert.services import approvals_ahead

    plan = revert_preview(user=editor, target=RevertTarget(batch=uuid.UUID(batch)))
    assert approvals_ahead(plan) == ["DE"]

    # When the editor reverts the whole bulk change
    _, result = revert_apply(actor=editor, target=RevertTarget(batch=uuid.UUID(batch)))

    # Then AU's three positions are back at once, and DE's wait in one submitted request
    assert result.reverted == 3
    assert not Position.objects.filter(market=au, state="promoted").exists()
    assert Position.objects.filter(market=de, state="promoted").count() == 3
    [(code, request_id)] = result.requests
    request = ChangeRequest.objects.get(pk=request_id)
    assert code == "DE" and request.market == de and request.author == editor
    assert request.state == "submitted" and request.operations.count() == 3
    assert request.title == "Revert of 3 changes in DE"


def test_a_rule_revert_follows_the_market_s_rule_policy(admin_user: User, au: Market) -> None:
    from portal.change_requests.models import ChangeRequest
    from portal.change_requests.services import policy_set

    # Given a rule note change, then AU starting to review rule changes
    rule = rule_create(actor=admin_user, market=au, action="hide", match_content_types=["video"])
    rule_update(actor=admin_user, rule=rule, note="youth protection")
    policy_set(actor=admin_user, market=au, approvals_required=1, rules=True)

    # When the note change is reverted, then it is filed, not applied
    update = AuditEntry.objects.get(action="rule.update")
    _, result = revert_apply(actor=admin_user, target=RevertTarget(entry_id=update.pk))
    assert result.reverted == 0 and len(result.requests) == 1
    assert Rule.objects.get().note == "youth protection"
    assert ChangeRequest.objects.get(pk=result.requests[0][1]).state == "submitted"


def test_group_settings_changes_say_why_they_are_not_reverted(admin_user: User, dach: Any) -> None:
    # Given a group renamed (audited under the group's code); its positions and rules are
    # revertable (tests/audit/test_revert_groups.py), its settings and members are not
    from markets.groups.services import group_update

    group_update(actor=admin_user, group=dach, name="DACH markets")
    entry = AuditEntry.objects.get(action="group.update")
    # When its revert is previewed, then it says why (not "no such market")
    plan = revert_preview(user=admin_user, target=RevertTarget(entry_id=entry.pk))
    assert plan.steps[0].outcome == Outcome.NOT_REVERTABLE
    assert "change the group on its page" in plan.steps[0].reason
