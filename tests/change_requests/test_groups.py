"""Change requests for market groups: the group's policy and its members', queueing instead of
refusing, applying through the group services, reviewers and denials, the due job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.access import AccessDenied
from accounts.models import Role, User
from content.models import ContentItem, GroupPosition
from content.services import PositionChange
from markets.groups.services import group_rule_create, group_rule_update
from markets.models import GroupRule, Market, MarketGroup
from portal.audit.models import AuditEntry
from portal.change_requests.models import RequestState
from portal.change_requests.selectors import may_review, my_open_requests, waiting_for_review
from portal.change_requests.services import (
    Operation,
    RequestRefused,
    group_approvals_needed,
    group_changes_defer,
    group_need,
    group_policy_set,
    policy_set,
    request_approve,
    request_create,
    requests_apply_due,
)
from portal.notifications.models import EventKind, Receipt
from tests.factories import ContentItemFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(db: None) -> list[ContentItem]:
    return ContentItemFactory.create_batch(4)


@pytest.fixture
def dach_editor(dach_markets: dict[str, Market]) -> User:
    """Edits positions and rules (as manager) in every DACH member: holds the group rights."""
    return person("dach-manager", Role.MARKET_MANAGER, *dach_markets.values())


@pytest.fixture
def reviewed(dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User) -> MarketGroup:
    """DACH where DE's policy reviews rules and positions (one approval)."""
    policy_set(actor=admin_user, market=dach_markets["DE"], approvals_required=1, rules=True, positions=True)
    return dach


def _hide(item: ContentItem) -> Operation:
    return Operation.position(item, PositionChange(state="hidden", reason="Embargo"))


def test_the_strictest_of_the_groups_and_the_members_policies_wins(
    dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User
) -> None:
    assert group_approvals_needed(dach, rules=True) == 0
    # The group's own policy: one approval for rules
    group_policy_set(actor=admin_user, group=dach, approvals_required=1, rules=True)
    assert group_need(dach, rules=True).approvals == 1
    assert group_approvals_needed(dach, positions=1) == 0
    # A member that asks for two approvals on rules wins; one that reviews only settings does not count
    policy_set(actor=admin_user, market=dach_markets["AT"], approvals_required=2, rules=True)
    policy_set(actor=admin_user, market=dach_markets["CH"], approvals_required=2, settings=True)
    need = group_need(dach, rules=True)
    assert need.approvals == 2 and need.reviewed_by == ["AT", "group DACH"]
    # Bulk: the group's threshold
    group_policy_set(actor=admin_user, group=dach, approvals_required=1, bulk_threshold=10)
    assert group_approvals_needed(dach, positions=10, bulk=True) == 0
    assert group_approvals_needed(dach, positions=11, bulk=True) == 1
    assert AuditEntry.objects.filter(action="approval_policy.update", market_code="DACH").count() == 2


def test_who_sets_a_groups_policy(
    dach: MarketGroup, dach_markets: dict[str, Market], dach_editor: User
) -> None:
    de_manager = person("de-only", Role.MARKET_MANAGER, dach_markets["DE"])
    editor = person("dach-editor", Role.EDITOR, *dach_markets.values())
    for refused in (de_manager, editor):
        with pytest.raises(AccessDenied):
            group_policy_set(actor=refused, group=dach, approvals_required=1, rules=True)
    group_manager = person("group-manager", Role.MARKET_MANAGER, group=dach)
    group_policy_set(actor=group_manager, group=dach, approvals_required=1, rules=True)
    group_policy_set(actor=dach_editor, group=dach, approvals_required=2, rules=True)
    assert group_approvals_needed(dach, rules=True) == 2


def test_a_group_change_a_member_reviews_is_queued_and_applies_through_the_group_services(
    reviewed: MarketGroup, dach_editor: User, admin_user: User, items: list[ContentItem]
) -> None:
    # Given a draft group request from two forms (a new rule, a hidden item)
    cr = group_changes_defer(
        actor=dach_editor,
        group=reviewed,
        operations=[Operation.rule_create(action="hide", match_sources=["x"])],
    )
    same = group_changes_defer(actor=dach_editor, group=reviewed, operations=[_hide(items[0])])
    assert same.pk == cr.pk and cr.group == reviewed and cr.market is None
    assert not GroupRule.objects.exists() and not GroupPosition.objects.exists()
    # When it is submitted: DE's policy sets the goal, the reviewers are told
    cr = request_create(
        actor=dach_editor,
        group=reviewed,
        title="Embargo",
        operations=[Operation.rule_create(action="hide", match_sources=["x"]), _hide(items[0])],
        submit=True,
    )
    assert cr.state == RequestState.SUBMITTED and cr.approvals_required == 1
    assert Receipt.objects.filter(user=admin_user, notification__kind=EventKind.REQUEST_SUBMITTED).exists()
    assert waiting_for_review(user=admin_user) == [cr]
    assert {r.pk for r in my_open_requests(user=dach_editor)} == {cr.pk, same.pk}
    # Then the admin's approval applies it through the group services, as the author, via request
    cr = request_approve(actor=admin_user, request=cr)
    assert cr.state == RequestState.APPLIED, cr.failure_reason
    rule = GroupRule.objects.get(group=reviewed)
    assert rule.match_sources == ["x"] and rule.author == dach_editor
    assert GroupPosition.objects.get(group=reviewed, item=items[0]).state == "hidden"
    assert AuditEntry.objects.filter(action="group_rule.create", via="request", market_code="DACH").exists()
    assert AuditEntry.objects.filter(action="change_request.apply", market_code="DACH").exists()
    assert Receipt.objects.filter(user=dach_editor, notification__kind=EventKind.REQUEST_APPLIED).exists()


def test_a_stale_group_object_fails_the_whole_request(
    reviewed: MarketGroup, dach_editor: User, admin_user: User, items: list[ContentItem]
) -> None:
    rule = group_rule_create(actor=None, group=reviewed, action="hide", match_sources=["old"])
    cr = request_create(
        actor=dach_editor,
        group=reviewed,
        title="Two changes",
        operations=[_hide(items[0]), Operation.rule_update(rule, note="Reviewed")],
        submit=True,
    )
    # Someone changes the rule directly meanwhile
    group_rule_update(actor=None, rule=rule, note="Changed meanwhile")
    cr = request_approve(actor=admin_user, request=cr)
    assert cr.state == RequestState.FAILED and "changed since" in cr.failure_reason
    assert "group DACH" in cr.failure_reason
    # Nothing of it applied: not even the position that was not stale
    assert not GroupPosition.objects.exists()
    assert GroupRule.objects.get(pk=rule.pk).note == "Changed meanwhile"


def test_the_due_job_applies_a_group_request_exactly_once(
    reviewed: MarketGroup, dach_editor: User, admin_user: User
) -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        cr = request_create(
            actor=dach_editor,
            group=reviewed,
            title="Later",
            operations=[Operation.rule_create(action="hide", match_sources=["tabloid"])],
            apply_at=start + timedelta(hours=1),
            submit=True,
        )
        cr = request_approve(actor=admin_user, request=cr)
        assert cr.state == RequestState.APPROVED and not GroupRule.objects.exists()
    later = start + timedelta(hours=2)
    first = requests_apply_due(now=later)
    second = requests_apply_due(now=later)
    assert first.applied == [cr.pk] and second.applied == []
    assert GroupRule.objects.filter(group=reviewed).count() == 1
    assert AuditEntry.objects.filter(action="change_request.apply", object_id=str(cr.pk)).count() == 1


def test_who_may_approve_a_group_request(
    reviewed: MarketGroup, dach_markets: dict[str, Market], dach_editor: User, items: list[ContentItem]
) -> None:
    cr = request_create(
        actor=dach_editor,
        group=reviewed,
        title="Hide",
        operations=[Operation.rule_create(action="hide", match_sources=["y"])],
        submit=True,
    )
    # The author cannot approve their own request
    with pytest.raises(RequestRefused, match="your own"):
        request_approve(actor=dach_editor, request=cr)
    # An editor of every member lacks the group's rules right
    editor = person("dach-editor", Role.EDITOR, *dach_markets.values())
    with pytest.raises(RequestRefused, match="group DACH"):
        request_approve(actor=editor, request=cr)
    # DE's manager (whose policy asked for the review) lacks the right in AT and CH
    de_manager = person("de-only", Role.MARKET_MANAGER, dach_markets["DE"])
    assert not may_review(de_manager, cr)
    with pytest.raises(RequestRefused):
        request_approve(actor=de_manager, request=cr)
    assert waiting_for_review(user=de_manager) == []
    # A manager on the group may
    group_manager = person("dach-group-manager", Role.MARKET_MANAGER, group=reviewed)
    assert may_review(group_manager, cr)
    assert [r.pk for r in waiting_for_review(user=group_manager)] == [cr.pk]
    assert request_approve(actor=group_manager, request=cr).state == RequestState.APPLIED


def test_a_group_request_refuses_pins_and_settings(
    reviewed: MarketGroup, dach_editor: User, items: list
) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        group_changes_defer(
            actor=dach_editor,
            group=reviewed,
            operations=[Operation.position(items[0], PositionChange(state="pinned", slot=1))],
        )
    with pytest.raises(ValidationError):
        group_changes_defer(actor=dach_editor, group=reviewed, operations=[Operation.settings(name="X")])


def test_a_group_request_needs_the_group_right_to_be_made(
    reviewed: MarketGroup, dach_markets: dict[str, Market]
) -> None:
    de_manager = person("de-only", Role.MARKET_MANAGER, dach_markets["DE"])
    with pytest.raises(AccessDenied):
        group_changes_defer(
            actor=de_manager,
            group=reviewed,
            operations=[Operation.rule_create(action="hide", match_sources=["z"])],
        )
