"""Change requests: policy, transitions, denials, applying once, stale bases, the due job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from accounts.access import AccessDenied
from accounts.models import Membership, Role, User
from content.models import Position
from content.services import PositionChange, position_set
from markets.models import Market, Rule
from markets.services import rule_create
from portal.audit.models import AuditEntry
from portal.change_requests.models import RequestState
from portal.change_requests.selectors import my_open_requests, waiting_for_review
from portal.change_requests.services import (
    Operation,
    RequestRefused,
    approvals_needed,
    policy_set,
    request_approve,
    request_create,
    request_refresh,
    request_reject,
    request_submit,
    request_withdraw,
    requests_apply_due,
)
from portal.notifications.models import EventKind, Receipt
from tests.factories import UserFactory


def _pin(item, slot: int = 1) -> Operation:  # type: ignore[no-untyped-def]
    return Operation.position(item, PositionChange(state="pinned", slot=slot, reason="Launch"))


def test_policy_says_what_needs_approval(optus: Market, sam: User) -> None:
    assert approvals_needed(optus, rules=True) == 0
    policy_set(actor=sam, market=optus, approvals_required=2, rules=True, bulk_threshold=100)
    assert approvals_needed(optus, rules=True) == 2
    assert approvals_needed(optus, settings=True) == 0
    assert approvals_needed(optus, positions=1) == 0
    assert approvals_needed(optus, positions=100, bulk=True) == 0
    assert approvals_needed(optus, positions=101, bulk=True) == 2
    assert AuditEntry.objects.filter(action="approval_policy.update", market_code="AU-OPTUS").count() == 1


def test_only_managers_of_the_market_set_its_policy(optus: Market, au: Market, editor: User) -> None:
    manager = UserFactory()
    Membership.objects.create(user=manager, role=Role.MARKET_MANAGER, market=au)
    with pytest.raises(AccessDenied):
        policy_set(actor=editor, market=optus, approvals_required=1, rules=True)
    with pytest.raises(AccessDenied):
        policy_set(actor=manager, market=optus, approvals_required=1, rules=True)


def test_a_submitted_request_is_approved_and_applied_through_the_services(
    guarded: Market, ana: User, sam: User, items: list
) -> None:
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Launch pins",
        operations=[_pin(items[0]), _pin(items[1], 2)],
        submit=True,
    )
    assert cr.state == RequestState.SUBMITTED
    assert not Position.objects.filter(market=guarded).exists()
    # Sam is told; the dashboard queues show it
    assert Receipt.objects.filter(user=sam, notification__kind=EventKind.REQUEST_SUBMITTED).exists()
    assert waiting_for_review(user=sam) == [cr]
    assert my_open_requests(user=ana)[0].pk == cr.pk
    assert waiting_for_review(user=ana) == []

    cr = request_approve(actor=sam, request=cr)

    assert cr.state == RequestState.APPLIED
    slots = dict(Position.objects.filter(market=guarded).values_list("item_id", "slot"))
    assert slots == {items[0].pk: 1, items[1].pk: 2}
    # written by the position service, as Ana's change, marked as coming from the request
    entries = AuditEntry.objects.filter(action="position.set", market_code="AU-OPTUS")
    assert {(e.actor_name, e.via) for e in entries} == {("ana", "request")}
    actions = list(AuditEntry.objects.filter(object_type="change_request").values_list("action", flat=True))
    for action in (
        "change_request.create",
        "change_request.submit",
        "change_request.approve",
        "change_request.apply",
    ):
        assert action in actions
    assert Receipt.objects.filter(user=ana, notification__kind=EventKind.REQUEST_APPLIED).exists()


def test_the_author_cannot_approve_their_own_request(guarded: Market, ana: User, items: list) -> None:
    cr = request_create(actor=ana, market=guarded, title="Mine", operations=[_pin(items[0])], submit=True)
    with pytest.raises(RequestRefused, match="your own"):
        request_approve(actor=ana, request=cr)
    cr.refresh_from_db()
    assert cr.state == RequestState.SUBMITTED
    assert not cr.approvals.exists()


def test_an_approver_must_hold_every_right_in_the_request(guarded: Market, ana: User, items: list) -> None:
    # an editor may change positions in every market but not rules
    editor = UserFactory(username="mia")
    Membership.objects.create(user=editor, role=Role.EDITOR, market=None)
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Pins and a rule",
        operations=[_pin(items[0]), Operation.rule_create(action="hide", match_sources=["natgeo-editorial"])],
        submit=True,
    )
    with pytest.raises(RequestRefused, match="New rule"):
        request_approve(actor=editor, request=cr)
    with pytest.raises(RequestRefused):
        request_reject(actor=editor, request=cr)
    assert cr.approvals.count() == 0


def test_someone_of_another_market_cannot_approve_or_create(
    guarded: Market, ana: User, au: Market, items: list
) -> None:
    other = UserFactory()
    Membership.objects.create(user=other, role=Role.MARKET_MANAGER, market=au)
    cr = request_create(actor=ana, market=guarded, title="Pins", operations=[_pin(items[0])], submit=True)
    with pytest.raises(PermissionDenied):
        request_approve(actor=other, request=cr)
    with pytest.raises(AccessDenied):
        request_create(actor=other, market=guarded, title="x", operations=[_pin(items[1])])


def test_two_approvals_when_the_policy_says_two(optus: Market, ana: User, sam: User, items: list) -> None:
    policy_set(actor=sam, market=optus, approvals_required=2, positions=True)
    second = UserFactory()
    Membership.objects.create(user=second, role=Role.MARKET_MANAGER, market=optus)
    cr = request_create(actor=ana, market=optus, title="Pins", operations=[_pin(items[0])], submit=True)
    cr = request_approve(actor=sam, request=cr)
    assert cr.state == RequestState.SUBMITTED
    with pytest.raises(RequestRefused, match="already"):
        request_approve(actor=sam, request=cr)
    cr = request_approve(actor=second, request=cr)
    assert cr.state == RequestState.APPLIED


def test_a_stale_object_fails_the_whole_request_and_changes_nothing(
    guarded: Market, ana: User, sam: User, items: list
) -> None:
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Two pins",
        operations=[_pin(items[0]), _pin(items[1], 2)],
        submit=True,
    )
    # meanwhile someone hides the second item directly
    position_set(actor=sam, market=guarded, item=items[1], change=PositionChange(state="hidden"))
    cr = request_approve(actor=sam, request=cr)
    assert cr.state == RequestState.FAILED
    assert "changed since" in cr.failure_reason
    assert not Position.objects.filter(market=guarded, item=items[0]).exists()
    assert Position.objects.get(market=guarded, item=items[1]).state == "hidden"
    assert Receipt.objects.filter(user=ana, notification__kind=EventKind.REQUEST_FAILED).exists()
    # the author refreshes it onto the current versions; it goes back to review and then applies
    cr = request_refresh(actor=ana, request=cr)
    assert cr.state == RequestState.SUBMITTED and cr.failure_reason == ""
    cr = request_approve(actor=sam, request=cr)
    assert cr.state == RequestState.APPLIED
    assert Position.objects.get(market=guarded, item=items[1]).state == "pinned"


def test_a_scheduled_request_applies_from_the_job_exactly_once(
    guarded: Market, ana: User, sam: User, items: list
) -> None:
    monday = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)  # Monday 06:00 in Sydney
    with time_machine.travel(monday - timedelta(days=2), tick=False):
        cr = request_create(
            actor=ana,
            market=guarded,
            title="Launch",
            operations=[_pin(items[0])],
            apply_at=monday,
            submit=True,
        )
        cr = request_approve(actor=sam, request=cr)
        assert cr.state == RequestState.APPROVED
        assert requests_apply_due().applied == []
    with time_machine.travel(monday + timedelta(seconds=30), tick=False):
        call_command("change_requests", "apply-due")
        cr.refresh_from_db()
        assert cr.state == RequestState.APPLIED
        version = Position.objects.get(market=guarded, item=items[0]).version
        # a second run (or an overlapping scheduler) changes nothing
        assert requests_apply_due().applied == []
        assert Position.objects.get(market=guarded, item=items[0]).version == version
        assert AuditEntry.objects.filter(action="change_request.apply").count() == 1


def test_withdraw_and_reject(guarded: Market, ana: User, sam: User, items: list) -> None:
    first = request_create(actor=ana, market=guarded, title="A", operations=[_pin(items[0])], submit=True)
    with pytest.raises(RequestRefused):
        request_withdraw(actor=sam, request=first)
    first = request_withdraw(actor=ana, request=first)
    assert first.state == RequestState.WITHDRAWN
    with pytest.raises(RequestRefused):
        request_approve(actor=sam, request=first)
    second = request_create(actor=ana, market=guarded, title="B", operations=[_pin(items[1])], submit=True)
    second = request_reject(actor=sam, request=second, reason="Not this week")
    assert second.state == RequestState.REJECTED
    assert second.comments.get().body == "Not this week"
    assert not Position.objects.exists()


def test_rules_and_settings_apply_with_their_versions_checked(guarded: Market, ana: User, sam: User) -> None:
    rule = rule_create(actor=sam, market=guarded, action="hide", match_sources=["a"])
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Rules",
        operations=[
            Operation.rule_update(rule, note="Reviewed"),
            Operation.rule_create(action="promote", boost=2, match_sources=["b"]),
            Operation.settings(name="Optus Premium"),
        ],
    )
    request_submit(actor=ana, request=cr)
    cr = request_approve(actor=sam, request=cr)
    assert cr.state == RequestState.APPLIED, cr.failure_reason
    rule.refresh_from_db()
    guarded.refresh_from_db()
    assert rule.note == "Reviewed"
    assert Rule.objects.filter(market=guarded, action="promote", boost=2).exists()
    assert guarded.name == "Optus Premium"


def test_notifications_go_only_to_people_who_may_see_the_market(
    guarded: Market, ana: User, sam: User, au: Market, items: list
) -> None:
    au_only = UserFactory()
    Membership.objects.create(user=au_only, role=Role.MARKET_MANAGER, market=au)
    optus_editor = UserFactory()
    Membership.objects.create(user=optus_editor, role=Role.EDITOR, market=guarded)
    request_create(actor=ana, market=guarded, title="Pins", operations=[_pin(items[0])], submit=True)
    told = set(
        Receipt.objects.filter(notification__kind=EventKind.REQUEST_SUBMITTED).values_list(
            "user__username", flat=True
        )
    )
    # Sam may make every change; the editor may edit positions in AU-OPTUS; neither Ana nor AU's manager
    assert told == {sam.username, optus_editor.username}
