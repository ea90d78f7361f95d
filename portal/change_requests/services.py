"""Writes for change requests: the approval policy, creating and moving requests, and applying them.

A request holds operations (positions, rules, settings) on one market, or (positions, rules) on one
market group, each with the version of the object it was made from. Applying runs every operation
through the very services a direct write uses (content.services.positions, markets.services; for a
group content.services.group_positions, markets.groups.services), in one transaction, passing that
version as the expected one: an object changed since fails the whole request and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.access import (
    AccessDenied,
    Action,
    can,
    can_in_group,
    can_view_group,
    require,
    require_active,
    require_in_group,
)
from accounts.models import Membership, User
from content.models import ContentItem, GroupPosition, Position, PositionState
from content.services.group_positions import PIN_REFUSED, group_position_set
from content.services.positions import PositionChange, position_set
from markets.groups.services import (
    GROUP_RULE_FIELDS,
    group_rule_create,
    group_rule_delete,
    group_rule_update,
)
from markets.models import GroupRule, Market, MarketGroup, Rule
from markets.services import (
    MARKET_FIELDS,
    RULE_FIELDS,
    market_update,
    rule_create,
    rule_delete,
    rule_update,
)
from portal.audit.services import AuditRecord, audit_record, snapshot
from portal.change_requests.models import (
    Approval,
    ApprovalPolicy,
    ChangeOperation,
    ChangeRequest,
    Comment,
    OperationKind,
    RequestState,
)
from portal.errors import Conflict
from portal.notifications.kinds import EventKind
from portal.notifications.models import Severity
from portal.notifications.occurrence import Occurrence
from portal.notifications.services.raising import notification_emit

VIA = "request"
# Admins (de)activate markets directly (market_deactivate); a request changes the other settings.
SETTINGS_FIELDS = tuple(f for f in MARKET_FIELDS if f not in ("code", "active"))
MAX_OPERATIONS = 5000
TITLE_MAX = 200

# The right an approver (and the author) must hold in the market for each kind of operation.
KIND_ACTION: dict[str, Action] = {
    OperationKind.POSITION: Action.EDIT_POSITIONS,
    OperationKind.RULE_CREATE: Action.EDIT_RULES,
    OperationKind.RULE_UPDATE: Action.EDIT_RULES,
    OperationKind.RULE_DELETE: Action.EDIT_RULES,
    OperationKind.SETTINGS: Action.EDIT_MARKET_SETTINGS,
}


class RequestRefused(PermissionDenied):
    """A transition the request's state or the user's part in it does not allow (403)."""


# --- operations, as the forms and the API describe them ---------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One change to make: `kind` with the service's keyword values (datetimes as datetimes)."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    item: ContentItem | None = None
    # A market's rule, or a group's (in a group request).
    rule: Rule | GroupRule | None = None
    # The version the caller edited (an API If-Match): a different stored version is a Conflict.
    expected_version: int | None = None

    @classmethod
    def position(
        cls, item: ContentItem, change: PositionChange, expected_version: int | None = None
    ) -> Operation:
        return cls(OperationKind.POSITION, change.values(), item=item, expected_version=expected_version)

    @classmethod
    def rule_create(cls, **values: Any) -> Operation:
        return cls(OperationKind.RULE_CREATE, values)

    @classmethod
    def rule_update(
        cls, rule: Rule | GroupRule, expected_version: int | None = None, **values: Any
    ) -> Operation:
        return cls(OperationKind.RULE_UPDATE, values, rule=rule, expected_version=expected_version)

    @classmethod
    def rule_delete(cls, rule: Rule | GroupRule, expected_version: int | None = None) -> Operation:
        return cls(OperationKind.RULE_DELETE, {}, rule=rule, expected_version=expected_version)

    @classmethod
    def settings(cls, expected_version: int | None = None, **values: Any) -> Operation:
        return cls(OperationKind.SETTINGS, values, expected_version=expected_version)


def _to_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


_DATETIME_FIELDS = ("starts_at", "ends_at")


def _from_json(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in _DATETIME_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = parse_datetime(out[name])
    return out


def operation_change(op: ChangeOperation) -> PositionChange:
    """The PositionChange a stored position operation makes."""
    values = _from_json(op.values)
    values["reason"] = values.get("reason") or ""
    values["section"] = values.get("section") or ""
    return PositionChange(**values)


# --- the policy ----------------------------------------------------------------------------------------


def policy_for(market: Market) -> ApprovalPolicy | None:
    """Return the policy of `market`'s own changes (a group's policy governs the group's changes)."""
    return ApprovalPolicy.objects.filter(market=market).first()


def group_policy_for(group: MarketGroup) -> ApprovalPolicy | None:
    """Return the group's own policy (see group_approvals_needed for what governs its changes)."""
    return ApprovalPolicy.objects.filter(group=group).first()


def _needed(
    policy: ApprovalPolicy | None,
    *,
    positions: int = 0,
    bulk: bool = False,
    rules: bool = False,
    settings: bool = False,
) -> int:
    if policy is None or not policy.approvals_required:
        return 0
    needs = (
        (rules and policy.rules)
        or (settings and policy.settings)
        or (positions > 0 and policy.positions)
        or (bulk and policy.bulk_threshold is not None and positions > policy.bulk_threshold)
    )
    return policy.approvals_required if needs else 0


def approvals_needed(
    market: Market,
    *,
    positions: int = 0,
    bulk: bool = False,
    rules: bool = False,
    settings: bool = False,
    policy: ApprovalPolicy | None = None,
) -> int:
    """Return how many approvals a change of this shape needs in `market` (0: it applies directly).

    `positions` is how many positions the change sets; `bulk` says it is one bulk action.
    """
    policy = policy if policy is not None else policy_for(market)
    return _needed(policy, positions=positions, bulk=bulk, rules=rules, settings=settings)


@dataclass(frozen=True)
class GroupNeed:
    """How many approvals a group change needs, and whose policies ask for them."""

    approvals: int
    # "group DACH", "DE", …: the policies that would review this change.
    reviewed_by: list[str] = field(default_factory=list)


def group_need(
    group: MarketGroup, *, positions: int = 0, bulk: bool = False, rules: bool = False
) -> GroupNeed:
    """The approvals a change of this shape needs in `group`: the strictest of the group's own
    policy and the policy of every member market that would review it (a group never slips past a
    member's approvals). One query."""
    policies = list(
        ApprovalPolicy.objects.filter(Q(group=group) | Q(market__group_links__group=group)).select_related(
            "market"
        )
    )
    # The members by code, then the group's own.
    policies.sort(key=lambda p: (p.group_id is not None, p.market.code if p.market else ""))
    approvals = 0
    reviewed_by: list[str] = []
    for policy in policies:
        needed = _needed(policy, positions=positions, bulk=bulk, rules=rules)
        if needed:
            approvals = max(approvals, needed)
            reviewed_by.append(
                f"group {group.code}" if policy.group_id else policy.market.code if policy.market else ""
            )
    return GroupNeed(approvals, reviewed_by)


def group_approvals_needed(
    group: MarketGroup, *, positions: int = 0, bulk: bool = False, rules: bool = False
) -> int:
    """Return how many approvals a change of this shape needs in `group` (0: it applies directly);
    see group_need."""
    return group_need(group, positions=positions, bulk=bulk, rules=rules).approvals


_POLICY_FIELDS = ("approvals_required", "rules", "settings", "positions", "bulk_threshold")


def _policy_errors(
    approvals_required: int, rules: bool, settings: bool, positions: bool, bulk_threshold: int | None
) -> None:
    errors: dict[str, str] = {}
    if approvals_required not in (0, 1, 2):
        errors["approvals_required"] = "Choose 0 (changes apply directly), 1 or 2 approvals."
    if bulk_threshold is not None and not 1 <= bulk_threshold <= 1_000_000:
        errors["bulk_threshold"] = "Give a size between 1 and 1,000,000 positions, or none."
    if approvals_required and not (rules or settings or positions or bulk_threshold is not None):
        errors["__all__"] = "Say what needs approval: rules, settings, positions or bulk changes over a size."
    if errors:
        raise ValidationError(errors)


def _policy_write(
    *,
    actor: User | None,
    lookup: dict[str, Any],
    code: str,
    values: dict[str, Any],
    via: str,
) -> ApprovalPolicy:
    with transaction.atomic():
        policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(**lookup)
        before = snapshot(policy, _POLICY_FIELDS)
        for name, value in values.items():
            setattr(policy, name, value)
        after = snapshot(policy, _POLICY_FIELDS)
        if after == before and policy.updated_by_id is not None:
            return policy
        policy.updated_by = actor
        policy.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="approval_policy.update",
                object_type="approval_policy",
                object_id=code,
                object_repr=f"Approval policy of {code}",
                market_code=code,
                before=before,
                after=after,
            ),
            via=via,
        )
    return policy


def policy_set(
    *,
    actor: User,
    market: Market,
    approvals_required: int,
    rules: bool = False,
    settings: bool = False,
    positions: bool = False,
    bulk_threshold: int | None = None,
    via: str = "portal",
) -> ApprovalPolicy:
    """Set what needs approval in `market`. Raises AccessDenied unless `actor` manages the market's
    settings; ValidationError on a count other than 0, 1 or 2."""
    require_active(market)  # nothing is prepared in an inactive market
    require(actor, Action.EDIT_MARKET_SETTINGS, market)
    _policy_errors(approvals_required, rules, settings, positions, bulk_threshold)
    values = {
        "approvals_required": approvals_required,
        "rules": rules,
        "settings": settings,
        "positions": positions,
        "bulk_threshold": bulk_threshold,
    }
    return _policy_write(actor=actor, lookup={"market": market}, code=market.code, values=values, via=via)


def group_policy_set(
    *,
    actor: User,
    group: MarketGroup,
    approvals_required: int,
    rules: bool = False,
    positions: bool = False,
    bulk_threshold: int | None = None,
    settings: bool = False,
    via: str = "portal",
) -> ApprovalPolicy:
    """Set what needs approval in `group` (its rules, its positions, bulk changes over a size).

    Raises AccessDenied unless `actor` manages the group's settings (admins, a market manager role
    on the group or in every member); ValidationError on a count other than 0, 1 or 2, or on
    `settings` (a group has no settings a request changes).
    """
    require_in_group(actor, Action.EDIT_MARKET_SETTINGS, group)
    if settings:
        raise ValidationError({"settings": "A group has no settings that need approval."})
    _policy_errors(approvals_required, rules, False, positions, bulk_threshold)
    values = {
        "approvals_required": approvals_required,
        "rules": rules,
        "settings": False,
        "positions": positions,
        "bulk_threshold": bulk_threshold,
    }
    return _policy_write(actor=actor, lookup={"group": group}, code=group.code, values=values, via=via)


# --- where a request applies: one market, or one market group ------------------------------------------

Target = Market | MarketGroup


def target_of(request: ChangeRequest) -> Target:
    """The market or the group the request changes."""
    if request.group_id is not None:
        assert request.group is not None
        return request.group
    assert request.market is not None
    return request.market


def _may(user: User, kind: str, target: Target) -> bool:
    if isinstance(target, MarketGroup):
        return can_in_group(user, KIND_ACTION[kind], target)
    return can(user, KIND_ACTION[kind], target)


def _require_view(user: User, target: Target) -> None:
    if isinstance(target, MarketGroup):
        if not can_view_group(user, target):
            raise AccessDenied(Action.VIEW_MARKET, group_code=target.code)
        return
    require(user, Action.VIEW_MARKET, target)


def _require_open(target: Target) -> None:
    """Nothing is prepared in an inactive market or a retired group."""
    if isinstance(target, MarketGroup):
        if not target.active:
            raise ValidationError(f"Group {target.code} is retired; nothing is prepared in it.")
        return
    require_active(target)


# --- capturing an operation's base ---------------------------------------------------------------------


def _position_before(position: Position | None) -> dict[str, Any] | None:
    if position is None or not position.version:
        return None
    return snapshot(position, ("state", "boost", "slot", "section", "starts_at", "ends_at", "reason"))


def _group_position_before(position: GroupPosition | None) -> dict[str, Any] | None:
    if position is None or not position.version:
        return None
    return snapshot(position, ("state", "boost", "section", "starts_at", "ends_at", "reason"))


def _capture(target: Target, op: ChangeOperation) -> None:
    """Set the operation's base version and before-values from what is stored now."""
    if isinstance(target, MarketGroup):
        _capture_group(target, op)
        return
    market = target
    if op.kind == OperationKind.POSITION:
        position = Position.objects.filter(market=market, item_id=op.item_id).first()
        op.base_version = position.version if position is not None else 0
        op.before = _position_before(position)
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE):
        rule = Rule.objects.filter(pk=op.rule_id, market=market).first() if op.rule_id else None
        if rule is None:
            raise ValidationError({"rule": "This rule does not exist (any more) in this market."})
        op.base_version = rule.version
        op.before = snapshot(rule, RULE_FIELDS)
    elif op.kind == OperationKind.SETTINGS:
        fresh = Market.objects.get(pk=market.pk)
        op.base_version = fresh.version
        op.before = snapshot(fresh, SETTINGS_FIELDS)
    else:
        op.base_version = None
        op.before = None


def _capture_group(group: MarketGroup, op: ChangeOperation) -> None:
    if op.kind == OperationKind.POSITION:
        position = GroupPosition.objects.filter(group=group, item_id=op.item_id).first()
        op.base_version = position.version if position is not None else 0
        op.before = _group_position_before(position)
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE):
        rule = (
            GroupRule.objects.filter(pk=op.group_rule_id, group=group).first() if op.group_rule_id else None
        )
        if rule is None:
            raise ValidationError({"rule": "This rule does not exist (any more) in this group."})
        op.base_version = rule.version
        op.before = snapshot(rule, GROUP_RULE_FIELDS)
    else:
        op.base_version = None
        op.before = None


def _validate(target: Target, op: Operation) -> None:
    if op.kind not in KIND_ACTION:
        raise ValidationError({"kind": f"Unknown operation {op.kind!r}."})
    if isinstance(target, MarketGroup):
        _validate_group(target, op)
        return
    market = target
    if op.kind == OperationKind.POSITION:
        if op.item is None:
            raise ValidationError({"item": "Name the content item."})
        PositionChange(**op.values).validate()
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE) and (
        not isinstance(op.rule, Rule) or op.rule.market_id != market.pk
    ):
        raise ValidationError({"rule": f"Name a rule of {market.code}."})
    unknown: set[str] = set()
    if op.kind in (OperationKind.RULE_CREATE, OperationKind.RULE_UPDATE):
        unknown = set(op.values) - set(RULE_FIELDS)
    elif op.kind == OperationKind.SETTINGS:
        unknown = set(op.values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})


def _validate_group(group: MarketGroup, op: Operation) -> None:
    if op.kind == OperationKind.SETTINGS:
        raise ValidationError({"kind": "A group request changes positions and rules, not settings."})
    if op.kind == OperationKind.POSITION:
        if op.item is None:
            raise ValidationError({"item": "Name the content item."})
        if op.values.get("state") == PositionState.PINNED:
            raise ValidationError({"state": PIN_REFUSED})
        PositionChange(**op.values).validate()
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE) and (
        not isinstance(op.rule, GroupRule) or op.rule.group_id != group.pk
    ):
        raise ValidationError({"rule": f"Name a rule of group {group.code}."})
    if op.kind in (OperationKind.RULE_CREATE, OperationKind.RULE_UPDATE):
        unknown = set(op.values) - set(GROUP_RULE_FIELDS)
        if unknown:
            raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})


def _same_object(a: ChangeOperation, b: ChangeOperation) -> bool:
    if a.kind == OperationKind.POSITION and b.kind == OperationKind.POSITION:
        return a.item_id == b.item_id
    if a.kind == OperationKind.SETTINGS and b.kind == OperationKind.SETTINGS:
        return True
    rule_kinds = (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE)
    return (
        a.kind in rule_kinds
        and b.kind in rule_kinds
        and a.rule_id == b.rule_id
        and a.group_rule_id == b.group_rule_id
    )


def _touches(request: ChangeRequest, kinds: set[str]) -> None:
    request.touches_positions = OperationKind.POSITION in kinds
    request.touches_rules = bool(
        kinds & {OperationKind.RULE_CREATE, OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE}
    )
    request.touches_settings = OperationKind.SETTINGS in kinds


def _audit(
    actor: User | None, action: str, request: ChangeRequest, *, via: str = "portal", **after: Any
) -> None:
    audit_record(
        actor=actor,
        record=AuditRecord(
            action=action,
            object_type="change_request",
            object_id=str(request.pk),
            object_repr=f"#{request.pk} {request.title}",
            market_code=request.scope_code,
            after={"state": request.state, **after},
        ),
        via=via,
    )


def _require_rights(user: User, target: Target, kinds: set[str]) -> None:
    for kind in sorted(kinds):
        if isinstance(target, MarketGroup):
            require_in_group(user, KIND_ACTION[kind], target)
        else:
            require(user, KIND_ACTION[kind], target)


def _kinds(request: ChangeRequest) -> set[str]:
    return set(request.operations.values_list("kind", flat=True).distinct())


def request_add(
    *, actor: User, request: ChangeRequest, operations: Sequence[Operation], via: str = "portal"
) -> ChangeRequest:
    """Add operations to a draft (an operation on an object already in it replaces that one)."""
    if request.author_id != actor.pk:
        raise RequestRefused("Only the author changes a request's content.")
    if request.state != RequestState.DRAFT:
        raise RequestRefused("Only a draft takes more changes; withdraw this one or start another.")
    target = target_of(request)
    _require_rights(actor, target, {op.kind for op in operations})
    for op in operations:
        _validate(target, op)
    with transaction.atomic():
        locked = ChangeRequest.objects.select_for_update().get(pk=request.pk)
        locked.market, locked.group = request.market, request.group
        existing = list(locked.operations.all())
        if len(existing) + len(operations) > MAX_OPERATIONS:
            raise ValidationError(f"A request holds at most {MAX_OPERATIONS:,} changes.")
        for op in operations:
            row = ChangeOperation(
                request=locked,
                kind=op.kind,
                item=op.item,
                rule=op.rule if isinstance(op.rule, Rule) else None,
                group_rule=op.rule if isinstance(op.rule, GroupRule) else None,
                values=_to_json(op.values),
            )
            _capture(target, row)
            if op.expected_version is not None and op.expected_version != row.base_version:
                raise Conflict(
                    f"This object was changed meanwhile (version {row.base_version}, you edited version "
                    f"{op.expected_version}). Review the current values and try again.",
                    current=row.before or {},
                )
            for old in existing:
                if _same_object(old, row) and old.pk is not None:
                    if row.kind == OperationKind.SETTINGS and old.kind == OperationKind.SETTINGS:
                        row.values = {**old.values, **row.values}
                        row.base_version, row.before = old.base_version, old.before
                    old.delete()
                    old.pk = None
            row.save()
            existing.append(row)
        _touches(locked, _kinds(locked))
        locked.save()
        _audit(actor, "change_request.update", locked, via=via, operations=len(_kinds(locked)))
    request.refresh_from_db()
    return request


def _one_target(market: Market | None, group: MarketGroup | None) -> Target:
    if (market is None) == (group is None):
        raise ValidationError({"market": "Name a market or a group (one of the two)."})
    return market if market is not None else group  # type: ignore[return-value]


def request_create(
    *,
    actor: User,
    title: str,
    operations: Sequence[Operation],
    market: Market | None = None,
    group: MarketGroup | None = None,
    description: str = "",
    apply_at: datetime | None = None,
    submit: bool = False,
    via: str = "portal",
) -> ChangeRequest:
    """Create a request (a draft, or submitted at once) holding `operations` on `market` or on
    `group` (exactly one of the two).

    Raises AccessDenied unless `actor` may make every change in it; ValidationError on bad values.
    """
    target = _one_target(market, group)
    _require_open(target)  # nothing is prepared in an inactive market or a retired group
    _require_view(actor, target)
    _require_rights(actor, target, {op.kind for op in operations})
    title = title.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Give the request a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    if not operations:
        errors["operations"] = "A request needs at least one change."
    if len(operations) > MAX_OPERATIONS:
        errors["operations"] = f"A request holds at most {MAX_OPERATIONS:,} changes."
    if apply_at is not None and apply_at.tzinfo is None:
        errors["apply_at"] = "Give a time zone with the time."
    if errors:
        raise ValidationError(errors)
    for op in operations:
        _validate(target, op)
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            market=market,
            group=group,
            title=title,
            description=description.strip(),
            author=actor,
            apply_at=apply_at,
            via=via,
        )
        _audit(actor, "change_request.create", request, via=via, title=title)
        request_add(actor=actor, request=request, operations=operations, via=via)
        if submit:
            request_submit(actor=actor, request=request, via=via)
    request.refresh_from_db()
    return request


def draft_for(
    *, actor: User, market: Market | None = None, group: MarketGroup | None = None
) -> ChangeRequest:
    """Return `actor`'s newest draft in `market` (or `group`), creating an empty one."""
    target = _one_target(market, group)
    _require_open(target)  # nothing is prepared in an inactive market or a retired group
    _require_view(actor, target)
    scope: dict[str, Any] = {"group": group} if group is not None else {"market": market}
    draft = ChangeRequest.objects.filter(**scope, author=actor, state=RequestState.DRAFT).first()
    if draft is not None:
        return draft
    with transaction.atomic():
        where = f"group {target.code}" if group is not None else target.code
        draft = ChangeRequest.objects.create(
            **scope, author=actor, title=f"Changes to {where} by {actor.get_username()}"
        )
        _audit(actor, "change_request.create", draft, title=draft.title)
    return draft


def request_update(
    *,
    actor: User,
    request: ChangeRequest,
    title: str,
    description: str = "",
    apply_at: datetime | None = None,
    via: str = "portal",
) -> ChangeRequest:
    """Change a draft's or submitted request's title, description and apply time (approvals are reset)."""
    if request.author_id != actor.pk:
        raise RequestRefused("Only the author edits a request.")
    if request.state not in (RequestState.DRAFT, RequestState.SUBMITTED):
        raise RequestRefused(f"A {request.get_state_display().lower()} request cannot be edited.")
    title = title.strip()
    if not title or len(title) > TITLE_MAX:
        raise ValidationError({"title": f"Give a title of at most {TITLE_MAX} characters."})
    with transaction.atomic():
        request.title, request.description, request.apply_at = title, description.strip(), apply_at
        request.save()
        request.approvals.all().delete()
        _audit(
            actor,
            "change_request.update",
            request,
            via=via,
            title=title,
            apply_at=apply_at.isoformat() if apply_at else None,
        )
    return request


# --- transitions --------------------------------------------------------------------------------------


def _lock(request: ChangeRequest) -> ChangeRequest:
    """The request's row, locked until the transaction ends (its market and author joined, not locked)."""
    return (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("market", "group", "author")
        .get(pk=request.pk)
    )


def _reviewers(request: ChangeRequest) -> list[User]:
    kinds = _kinds(request)
    target = target_of(request)
    # Only people with a role in this market (for a group: on the group or in a member) or
    # everywhere can hold the rights (one query each after).
    if isinstance(target, MarketGroup):
        where = (
            Q(group=target, market__isnull=True)
            | Q(market__group_links__group=target)
            | Q(market__isnull=True, group__isnull=True)
        )
    else:
        where = Q(market=target) | Q(market__isnull=True, group__isnull=True)
    users = (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(pk__in=Membership.objects.filter(where).values("user")))
        .exclude(pk=request.author_id or 0)
        .order_by("id")
    )
    return [u for u in users if all(_may(u, k, target) for k in kinds)]


def _notify(request: ChangeRequest, kind: EventKind, users: list[User], title: str, body: str = "") -> None:
    severity = Severity.WARNING if kind == EventKind.REQUEST_FAILED else Severity.INFO
    stamp = f"{timezone.now():%Y%m%dT%H%M%S%f}"
    notification_emit(
        Occurrence(
            kind=kind,
            key=f"{kind}:{request.pk}:{stamp}",
            title=title,
            body=body,
            link=reverse("change_requests:detail", args=[request.pk]),
            severity=severity,
            # A group request names no market: its people are named (reviewers, author, approvers).
            market_id=request.market_id,
            data={"request": request.pk, "state": request.state, "scope": request.scope_code},
        ),
        users=users,
    )


def _author(request: ChangeRequest) -> list[User]:
    return [request.author] if request.author is not None else []


def request_submit(*, actor: User, request: ChangeRequest, via: str = "portal") -> ChangeRequest:
    """Submit a draft for review. Only the author; the request must hold at least one change."""
    if request.author_id != actor.pk:
        raise RequestRefused("Only the author submits a request.")
    with transaction.atomic():
        locked = _lock(request)
        if locked.state != RequestState.DRAFT:
            raise RequestRefused(f"A {locked.get_state_display().lower()} request cannot be submitted.")
        if not locked.operations.exists():
            raise ValidationError({"operations": "Add at least one change before submitting."})
        target = target_of(locked)
        _require_rights(actor, target, _kinds(locked))
        locked.approvals_required = max(1, _approvals_for(locked, target))
        locked.state = RequestState.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save()
        _audit(actor, "change_request.submit", locked, via=via)
        _notify(
            locked,
            EventKind.REQUEST_SUBMITTED,
            _reviewers(locked),
            f"{actor.get_full_name() or actor.get_username()} asks for your review: {locked.title}",
            f"Change request #{locked.pk} in {_where(locked)}.",
        )
    request.refresh_from_db()
    return request


def _where(request: ChangeRequest) -> str:
    return f"group {request.scope_code}" if request.group_id is not None else request.scope_code


def _approvals_for(request: ChangeRequest, target: Target) -> int:
    """The approvals a request needs when submitted: the market's policy; for a group, the
    strictest of the group's policy and of the members' policies that review what it changes."""
    if isinstance(target, Market):
        return (policy_for(target) or ApprovalPolicy()).approvals_required
    positions = request.operations.filter(kind=OperationKind.POSITION).count()
    needed = group_approvals_needed(
        target, positions=positions, bulk=positions > 1, rules=request.touches_rules
    )
    return needed or (group_policy_for(target) or ApprovalPolicy()).approvals_required


def _check_reviewer(actor: User, request: ChangeRequest) -> None:
    if request.author_id == actor.pk:
        raise RequestRefused("You cannot approve or reject your own change request.")
    kinds = _kinds(request)
    target = target_of(request)
    missing = [k for k in sorted(kinds) if not _may(actor, k, target)]
    if missing:
        raise RequestRefused(
            "You may not make every change in this request ("
            + ", ".join(str(OperationKind(k).label) for k in missing)
            + f" in {_where(request)}), so you cannot approve or reject it."
        )


def request_approve(
    *, actor: User, request: ChangeRequest, now: datetime | None = None, via: str = "portal"
) -> ChangeRequest:
    """Approve a submitted request. With enough approvals it is approved, and applied now unless
    it waits for its apply time. Raises RequestRefused for the author, someone lacking a right in
    it, a second approval by the same person, or a request not waiting for review."""
    _require_view(actor, target_of(request))
    _check_reviewer(actor, request)
    with transaction.atomic():
        locked = _lock(request)
        if locked.state != RequestState.SUBMITTED:
            raise RequestRefused(f"A {locked.get_state_display().lower()} request is not waiting for review.")
        if Approval.objects.filter(request=locked, user=actor).exists():
            raise RequestRefused("You have approved this request already.")
        Approval.objects.create(request=locked, user=actor)
        count = locked.approvals.count()
        _audit(actor, "change_request.approve", locked, via=via, approvals=count)
        if count >= locked.approvals_required:
            locked.state = RequestState.APPROVED
            locked.save()
            _audit(actor, "change_request.approved", locked, via=via, approvals=count)
            _notify(
                locked,
                EventKind.REQUEST_APPROVED,
                _author(locked),
                f"Approved: {locked.title}",
                f"{actor.get_username()} approved change request #{locked.pk} in {_where(locked)}.",
            )
    now = now or timezone.now()
    request.refresh_from_db()
    if request.state == RequestState.APPROVED and (request.apply_at is None or request.apply_at <= now):
        return request_apply(request=request, now=now)
    return request


def request_reject(
    *, actor: User, request: ChangeRequest, reason: str = "", via: str = "portal"
) -> ChangeRequest:
    """Reject a submitted or approved request (a reviewer, not the author)."""
    _require_view(actor, target_of(request))
    _check_reviewer(actor, request)
    with transaction.atomic():
        locked = _lock(request)
        if locked.state not in (RequestState.SUBMITTED, RequestState.APPROVED):
            raise RequestRefused(f"A {locked.get_state_display().lower()} request cannot be rejected.")
        locked.state = RequestState.REJECTED
        locked.save()
        if reason.strip():
            Comment.objects.create(request=locked, author=actor, body=reason.strip()[:2000])
        _audit(actor, "change_request.reject", locked, via=via, reason=reason.strip()[:500])
        _notify(
            locked,
            EventKind.REQUEST_REJECTED,
            _author(locked),
            f"Rejected: {locked.title}",
            f"{actor.get_username()} rejected change request #{locked.pk}. {reason.strip()}",
        )
    request.refresh_from_db()
    return request


def request_withdraw(*, actor: User, request: ChangeRequest, via: str = "portal") -> ChangeRequest:
    """The author takes back a request that has not been applied."""
    if request.author_id != actor.pk:
        raise RequestRefused("Only the author withdraws a request.")
    with transaction.atomic():
        locked = _lock(request)
        if locked.state in (RequestState.APPLIED, RequestState.REJECTED, RequestState.WITHDRAWN):
            raise RequestRefused(f"A {locked.get_state_display().lower()} request cannot be withdrawn.")
        locked.state = RequestState.WITHDRAWN
        locked.save()
        _audit(actor, "change_request.withdraw", locked, via=via)
    request.refresh_from_db()
    return request


def request_comment(*, actor: User, request: ChangeRequest, body: str, via: str = "portal") -> Comment:
    """Comment on a request (anyone who may see its market or group)."""
    _require_view(actor, target_of(request))
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a comment."})
    if len(body) > 2000:
        raise ValidationError({"body": "Keep a comment under 2,000 characters."})
    with transaction.atomic():
        comment = Comment.objects.create(request=request, author=actor, body=body)
        _audit(actor, "change_request.comment", request, via=via, comment=comment.pk)
    return comment


def request_refresh(*, actor: User, request: ChangeRequest, via: str = "portal") -> ChangeRequest:
    """Rebase the request on the current versions (after it failed as stale, or to be sure).

    Approvals are dropped (the reviewers approved other before-values); a failed or approved
    request goes back to review.
    """
    if request.author_id != actor.pk:
        raise RequestRefused("Only the author refreshes a request.")
    with transaction.atomic():
        locked = _lock(request)
        if locked.state not in (
            RequestState.DRAFT,
            RequestState.SUBMITTED,
            RequestState.APPROVED,
            RequestState.FAILED,
        ):
            raise RequestRefused(f"A {locked.get_state_display().lower()} request cannot be refreshed.")
        target = target_of(locked)
        for op in locked.operations.all():
            _capture(target, op)
            op.save(update_fields=["base_version", "before"])
        locked.approvals.all().delete()
        if locked.state != RequestState.DRAFT:
            locked.state = RequestState.SUBMITTED
        locked.failure_reason = ""
        locked.save()
        _audit(actor, "change_request.refresh", locked, via=via)
    request.refresh_from_db()
    return request


# --- applying -----------------------------------------------------------------------------------------


def _label(op: ChangeOperation, target: Target) -> str:
    where = f"group {target.code}" if isinstance(target, MarketGroup) else target.code
    if op.kind == OperationKind.POSITION:
        return f"The position of {op.item.upstream_id if op.item else '?'} in {where}"
    if op.kind == OperationKind.SETTINGS:
        return f"The settings of {where}"
    return f"Rule #{op.group_rule_id or op.rule_id} of {where}"


def _run_group_operation(
    group: MarketGroup, op: ChangeOperation, *, actor: User | None, expected: int | None, via: str
) -> None:
    """One operation of a group request, through the group services (markets.groups.services,
    content.services.group_positions)."""
    if op.kind == OperationKind.POSITION:
        assert op.item is not None
        group_position_set(
            actor=actor,
            group=group,
            item=op.item,
            change=operation_change(op),
            expected_version=expected,
            via=via,
        )
    elif op.kind == OperationKind.RULE_CREATE:
        group_rule_create(actor=actor, group=group, via=via, **_from_json(op.values))
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE):
        if op.group_rule is None:
            raise Conflict(f"Rule of group {group.code} was deleted since the request was made.")
        op.group_rule.group = group
        if op.kind == OperationKind.RULE_UPDATE:
            group_rule_update(
                actor=actor, rule=op.group_rule, expected_version=expected, via=via, **_from_json(op.values)
            )
        else:
            group_rule_delete(actor=actor, rule=op.group_rule, expected_version=expected, via=via)
    else:
        raise ValidationError("A group request changes positions and rules, not settings.")


def run_operations(
    request: ChangeRequest, *, actor: User | None, check_versions: bool = True, via: str = VIA
) -> None:
    """Make every operation of `request` through the direct-write services (inside the caller's
    transaction). Raises Conflict (an object changed since its base), ValidationError or AccessDenied."""
    target = target_of(request)
    for op in request.operations.select_related("item", "rule", "group_rule").order_by("id"):
        expected = op.base_version if check_versions else None
        try:
            if isinstance(target, MarketGroup):
                _run_group_operation(target, op, actor=actor, expected=expected, via=via)
            else:
                _run_market_operation(
                    target, op, actor=actor, expected=expected, via=via, check=check_versions
                )
        except Conflict as exc:
            raise Conflict(
                f"{_label(op, target)} changed since the request was made (it was at version "
                f"{op.base_version}). {exc.message} Refresh the request to build on the current version.",
                current=exc.current,
            ) from exc
        except ValidationError as exc:
            messages = (
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                if hasattr(exc, "error_dict")
                else " ".join(exc.messages)
            )
            raise ValidationError(f"{_label(op, target)}: {messages}") from exc


def _run_market_operation(
    market: Market, op: ChangeOperation, *, actor: User | None, expected: int | None, via: str, check: bool
) -> None:
    if op.kind == OperationKind.POSITION:
        assert op.item is not None
        position_set(
            actor=actor,
            market=market,
            item=op.item,
            change=operation_change(op),
            expected_version=expected,
            via=via,
        )
    elif op.kind == OperationKind.RULE_CREATE:
        rule_create(actor=actor, market=market, via=via, **_from_json(op.values))
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE):
        if op.rule is None:
            raise Conflict(f"Rule of {market.code} was deleted since the request was made.")
        op.rule.market = market
        if op.kind == OperationKind.RULE_UPDATE:
            rule_update(
                actor=actor, rule=op.rule, expected_version=expected, via=via, **_from_json(op.values)
            )
        else:
            rule_delete(actor=actor, rule=op.rule, expected_version=expected, via=via)
    else:
        # The market's version also grows with every rule change, so settings are checked
        # by their values: stale when a setting differs from what the request was made from.
        locked = Market.objects.select_for_update().get(pk=market.pk)
        now_values = snapshot(locked, SETTINGS_FIELDS)
        if check and op.before is not None and now_values != op.before:
            changed = sorted(k for k in now_values if now_values[k] != op.before.get(k))
            raise Conflict(
                f"The market's {', '.join(changed)} changed (version {locked.version}).",
                current=now_values,
            )
        market_update(actor=actor, market=market, via=via, **op.values)
        market.refresh_from_db()


def request_apply(*, request: ChangeRequest, now: datetime | None = None) -> ChangeRequest:
    """Apply an approved request that is due, once: in one transaction, through the services.

    The request row is locked (skipping it if another run holds it) and only an approved request
    is applied, so a second call, or a second scheduler, changes nothing. An object changed since
    its base version, a refused change or a right the author lost fails the whole request: nothing
    changes and the request says why.
    """
    now = now or timezone.now()
    failure = ""
    with transaction.atomic():
        locked = (
            ChangeRequest.objects.select_for_update(skip_locked=True)
            .filter(pk=request.pk, state=RequestState.APPROVED)
            .first()
        )
        if locked is None or (locked.apply_at is not None and locked.apply_at > now):
            request.refresh_from_db()
            return request
        if locked.group_id is not None:
            locked.group = MarketGroup.objects.get(pk=locked.group_id)
        else:
            locked.market = Market.objects.get(pk=locked.market_id or 0)
        author = User.objects.filter(pk=locked.author_id or 0, is_active=True).first()
        try:
            with transaction.atomic():
                if author is None:
                    raise PermissionDenied("The author's account is gone or inactive.")
                run_operations(locked, actor=author)
        except (Conflict, ValidationError, PermissionDenied) as exc:
            failure = exc.message if isinstance(exc, Conflict) else " ".join(_messages(exc))
        if failure:
            locked.state = RequestState.FAILED
            locked.failure_reason = failure[:2000]
            locked.save()
            _audit(None, "change_request.fail", locked, via="system", reason=failure[:500])
            _notify(
                locked,
                EventKind.REQUEST_FAILED,
                _author(locked) + [a.user for a in locked.approvals.select_related("user")],
                f"Failed to apply: {locked.title}",
                failure,
            )
        else:
            locked.state = RequestState.APPLIED
            locked.applied_at = now
            locked.save()
            _audit(None, "change_request.apply", locked, via="system")
            _notify(
                locked,
                EventKind.REQUEST_APPLIED,
                _author(locked) + [a.user for a in locked.approvals.select_related("user")],
                f"Applied: {locked.title}",
                f"Change request #{locked.pk} is now live in {_where(locked)}.",
            )
    request.refresh_from_db()
    return request


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc) or exc.__class__.__name__]


@dataclass
class DueReport:
    applied: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def requests_apply_due(*, now: datetime | None = None, limit: int = 100) -> DueReport:
    """Apply the approved requests whose time has come (oldest first); each exactly once."""
    now = now or timezone.now()
    report = DueReport()
    due = (
        ChangeRequest.objects.filter(state=RequestState.APPROVED, apply_at__lte=now)
        .order_by("apply_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(due):
        request = ChangeRequest.objects.select_related("market", "group").get(pk=pk)
        done = request_apply(request=request, now=now)
        if done.state == RequestState.APPLIED:
            report.applied.append(pk)
        elif done.state == RequestState.FAILED:
            report.failed.append(pk)
    return report


def changes_defer(
    *,
    actor: User,
    market: Market,
    operations: Sequence[Operation],
    title: str = "",
    submit: bool = False,
    via: str = "portal",
) -> ChangeRequest:
    """Turn changes that need approval into a request instead of writing them.

    From the portal they join the author's draft in the market (reviewed and submitted from the
    request's page, so several forms make one request); from the API (`submit=True`) they become a
    request of their own, submitted at once.
    """
    require_active(market)  # nothing is prepared in an inactive market
    if submit:
        return request_create(
            actor=actor,
            market=market,
            title=title or f"Changes to {market.code} by {actor.get_username()}",
            operations=operations,
            submit=True,
            via=via,
        )
    _require_rights(actor, market, {op.kind for op in operations})
    for op in operations:
        _validate(market, op)
    with transaction.atomic():
        draft = draft_for(actor=actor, market=market)
        return request_add(actor=actor, request=draft, operations=operations, via=via)


def group_changes_defer(
    *,
    actor: User,
    group: MarketGroup,
    operations: Sequence[Operation],
    title: str = "",
    submit: bool = False,
    via: str = "portal",
) -> ChangeRequest:
    """Turn group changes that need approval (group_approvals_needed) into a group request instead
    of writing them: from the portal they join the author's draft in the group; from the API
    (`submit=True`) they become a request of their own, submitted at once."""
    _require_open(group)
    if submit:
        return request_create(
            actor=actor,
            group=group,
            title=title or f"Changes to group {group.code} by {actor.get_username()}",
            operations=operations,
            submit=True,
            via=via,
        )
    _require_rights(actor, group, {op.kind for op in operations})
    for op in operations:
        _validate(group, op)
    with transaction.atomic():
        draft = draft_for(actor=actor, group=group)
        return request_add(actor=actor, request=draft, operations=operations, via=via)
