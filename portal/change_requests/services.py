"""Writes for change requests: the approval policy, creating and moving requests, and applying them.

A request holds operations (positions, rules, settings) on one market, each with the version of the
object it was made from. Applying runs every operation through the very services a direct write
uses (content.services.positions, markets.services), in one transaction, passing that version as
the expected one: an object changed since fails the whole request and nothing changes.
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

from accounts.access import Action, can, require, require_active
from accounts.models import Membership, User
from content.models import ContentItem, Position
from content.services.positions import PositionChange, position_set
from markets.models import Market, MarketGroup, Rule
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
    rule: Rule | None = None
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
    def rule_update(cls, rule: Rule, expected_version: int | None = None, **values: Any) -> Operation:
        return cls(OperationKind.RULE_UPDATE, values, rule=rule, expected_version=expected_version)

    @classmethod
    def rule_delete(cls, rule: Rule, expected_version: int | None = None) -> Operation:
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
    """Return the policy that applies to `market` (its own; a group's, once groups exist)."""
    return ApprovalPolicy.objects.filter(market=market).first()


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
    if policy is None or not policy.approvals_required:
        return 0
    needs = (
        (rules and policy.rules)
        or (settings and policy.settings)
        or (positions > 0 and policy.positions)
        or (bulk and policy.bulk_threshold is not None and positions > policy.bulk_threshold)
    )
    return policy.approvals_required if needs else 0


def group_approval_refusal(
    group: MarketGroup, *, positions: int = 0, bulk: bool = False, rules: bool = False
) -> str | None:
    """Return why a change in `group` cannot apply directly (a member market's approval policy
    asks for review of such changes), or None.

    Groups have no change requests of their own yet: a group change that a member's policy would
    send for review is refused, so that a group never slips past a member's approvals.
    """
    members = list(Market.objects.filter(group_links__group=group).order_by("code"))
    policies = {p.market_id: p for p in ApprovalPolicy.objects.filter(market__in=members)}
    needing = [
        m.code
        for m in members
        if m.pk in policies
        and approvals_needed(m, positions=positions, bulk=bulk, rules=rules, policy=policies[m.pk]) > 0
    ]
    if not needing:
        return None
    what = "rules" if rules else "positions"
    return (
        f"{', '.join(needing)} {'needs' if len(needing) == 1 else 'need'} approval for {what}, so group "
        f"{group.code} cannot change them directly: make the change in each market (a change request there)."
    )


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
    errors: dict[str, str] = {}
    if approvals_required not in (0, 1, 2):
        errors["approvals_required"] = "Choose 0 (changes apply directly), 1 or 2 approvals."
    if bulk_threshold is not None and not 1 <= bulk_threshold <= 1_000_000:
        errors["bulk_threshold"] = "Give a size between 1 and 1,000,000 positions, or none."
    if approvals_required and not (rules or settings or positions or bulk_threshold is not None):
        errors["__all__"] = "Say what needs approval: rules, settings, positions or bulk changes over a size."
    if errors:
        raise ValidationError(errors)
    fields = ("approvals_required", "rules", "settings", "positions", "bulk_threshold")
    with transaction.atomic():
        policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(market=market)
        before = snapshot(policy, fields)
        policy.approvals_required = approvals_required
        policy.rules, policy.settings, policy.positions = rules, settings, positions
        policy.bulk_threshold = bulk_threshold
        after = snapshot(policy, fields)
        if after == before and policy.updated_by_id is not None:
            return policy
        policy.updated_by = actor
        policy.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="approval_policy.update",
                object_type="approval_policy",
                object_id=market.code,
                object_repr=f"Approval policy of {market.code}",
                market_code=market.code,
                before=before,
                after=after,
            ),
            via=via,
        )
    return policy


# --- capturing an operation's base ---------------------------------------------------------------------


def _position_before(position: Position | None) -> dict[str, Any] | None:
    if position is None or not position.version:
        return None
    return snapshot(position, ("state", "boost", "slot", "section", "starts_at", "ends_at", "reason"))


def _capture(market: Market, op: ChangeOperation) -> None:
    """Set the operation's base version and before-values from what is stored now."""
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


def _validate(market: Market, op: Operation) -> None:
    if op.kind not in KIND_ACTION:
        raise ValidationError({"kind": f"Unknown operation {op.kind!r}."})
    if op.kind == OperationKind.POSITION:
        if op.item is None:
            raise ValidationError({"item": "Name the content item."})
        PositionChange(**op.values).validate()
    elif op.kind in (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE) and (
        op.rule is None or op.rule.market_id != market.pk
    ):
        raise ValidationError({"rule": f"Name a rule of {market.code}."})
    unknown: set[str] = set()
    if op.kind in (OperationKind.RULE_CREATE, OperationKind.RULE_UPDATE):
        unknown = set(op.values) - set(RULE_FIELDS)
    elif op.kind == OperationKind.SETTINGS:
        unknown = set(op.values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})


def _same_object(a: ChangeOperation, b: ChangeOperation) -> bool:
    if a.kind == OperationKind.POSITION and b.kind == OperationKind.POSITION:
        return a.item_id == b.item_id
    if a.kind == OperationKind.SETTINGS and b.kind == OperationKind.SETTINGS:
        return True
    rule_kinds = (OperationKind.RULE_UPDATE, OperationKind.RULE_DELETE)
    return a.kind in rule_kinds and b.kind in rule_kinds and a.rule_id == b.rule_id


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
            market_code=request.market.code,
            after={"state": request.state, **after},
        ),
        via=via,
    )


def _require_rights(user: User, market: Market, kinds: set[str]) -> None:
    for kind in sorted(kinds):
        require(user, KIND_ACTION[kind], market)


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
    market = request.market
    _require_rights(actor, market, {op.kind for op in operations})
    for op in operations:
        _validate(market, op)
    with transaction.atomic():
        locked = ChangeRequest.objects.select_for_update().get(pk=request.pk)
        existing = list(locked.operations.all())
        if len(existing) + len(operations) > MAX_OPERATIONS:
            raise ValidationError(f"A request holds at most {MAX_OPERATIONS:,} changes.")
        for op in operations:
            row = ChangeOperation(
                request=locked,
                kind=op.kind,
                item=op.item,
                rule=op.rule,
                values=_to_json(op.values),
            )
            _capture(market, row)
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


def request_create(
    *,
    actor: User,
    market: Market,
    title: str,
    operations: Sequence[Operation],
    description: str = "",
    apply_at: datetime | None = None,
    submit: bool = False,
    via: str = "portal",
) -> ChangeRequest:
    """Create a request (a draft, or submitted at once) holding `operations` on `market`.

    Raises AccessDenied unless `actor` may make every change in it; ValidationError on bad values.
    """
    require_active(market)  # nothing is prepared in an inactive market
    require(actor, Action.VIEW_MARKET, market)
    _require_rights(actor, market, {op.kind for op in operations})
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
        _validate(market, op)
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            market=market,
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


def draft_for(*, actor: User, market: Market) -> ChangeRequest:
    """Return `actor`'s newest draft in `market`, creating an empty one."""
    require_active(market)  # nothing is prepared in an inactive market
    require(actor, Action.VIEW_MARKET, market)
    draft = ChangeRequest.objects.filter(market=market, author=actor, state=RequestState.DRAFT).first()
    if draft is not None:
        return draft
    with transaction.atomic():
        draft = ChangeRequest.objects.create(
            market=market, author=actor, title=f"Changes to {market.code} by {actor.get_username()}"
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
        .select_related("market", "author")
        .get(pk=request.pk)
    )


def _reviewers(request: ChangeRequest) -> list[User]:
    kinds = _kinds(request)
    # Only people with a role in this market or everywhere can hold the rights (one query each after).
    users = (
        User.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(
                pk__in=Membership.objects.filter(Q(market=request.market) | Q(market__isnull=True)).values(
                    "user"
                )
            )
        )
        .exclude(pk=request.author_id or 0)
        .order_by("id")
    )
    return [u for u in users if all(can(u, KIND_ACTION[k], request.market) for k in kinds)]


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
            market_id=request.market_id,
            data={"request": request.pk, "state": request.state},
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
        _require_rights(actor, locked.market, _kinds(locked))
        locked.approvals_required = max(1, (policy_for(locked.market) or ApprovalPolicy()).approvals_required)
        locked.state = RequestState.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save()
        _audit(actor, "change_request.submit", locked, via=via)
        _notify(
            locked,
            EventKind.REQUEST_SUBMITTED,
            _reviewers(locked),
            f"{actor.get_full_name() or actor.get_username()} asks for your review: {locked.title}",
            f"Change request #{locked.pk} in {locked.market.code}.",
        )
    request.refresh_from_db()
    return request


def _check_reviewer(actor: User, request: ChangeRequest) -> None:
    if request.author_id == actor.pk:
        raise RequestRefused("You cannot approve or reject your own change request.")
    kinds = _kinds(request)
    missing = [k for k in sorted(kinds) if not can(actor, KIND_ACTION[k], request.market)]
    if missing:
        raise RequestRefused(
            "You may not make every change in this request ("
            + ", ".join(str(OperationKind(k).label) for k in missing)
            + f" in {request.market.code}), so you cannot approve or reject it."
        )


def request_approve(
    *, actor: User, request: ChangeRequest, now: datetime | None = None, via: str = "portal"
) -> ChangeRequest:
    """Approve a submitted request. With enough approvals it is approved, and applied now unless
    it waits for its apply time. Raises RequestRefused for the author, someone lacking a right in
    it, a second approval by the same person, or a request not waiting for review."""
    require(actor, Action.VIEW_MARKET, request.market)
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
                f"{actor.get_username()} approved change request #{locked.pk} in {locked.market.code}.",
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
    require(actor, Action.VIEW_MARKET, request.market)
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
    """Comment on a request (anyone who may see its market)."""
    require(actor, Action.VIEW_MARKET, request.market)
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
        for op in locked.operations.all():
            _capture(locked.market, op)
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


def _label(op: ChangeOperation, market: Market) -> str:
    if op.kind == OperationKind.POSITION:
        return f"The position of {op.item.upstream_id if op.item else '?'} in {market.code}"
    if op.kind == OperationKind.SETTINGS:
        return f"The settings of {market.code}"
    return f"Rule #{op.rule_id} of {market.code}"


def run_operations(
    request: ChangeRequest, *, actor: User | None, check_versions: bool = True, via: str = VIA
) -> None:
    """Make every operation of `request` through the direct-write services (inside the caller's
    transaction). Raises Conflict (an object changed since its base), ValidationError or AccessDenied."""
    market = request.market
    for op in request.operations.select_related("item", "rule").order_by("id"):
        expected = op.base_version if check_versions else None
        try:
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
                if check_versions and op.before is not None and now_values != op.before:
                    changed = sorted(k for k in now_values if now_values[k] != op.before.get(k))
                    raise Conflict(
                        f"The market's {', '.join(changed)} changed (version {locked.version}).",
                        current=now_values,
                    )
                market_update(actor=actor, market=market, via=via, **op.values)
                market.refresh_from_db()
        except Conflict as exc:
            raise Conflict(
                f"{_label(op, market)} changed since the request was made (it was at version "
                f"{op.base_version}). {exc.message} Refresh the request to build on the current version.",
                current=exc.current,
            ) from exc
        except ValidationError as exc:
            messages = (
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                if hasattr(exc, "error_dict")
                else " ".join(exc.messages)
            )
            raise ValidationError(f"{_label(op, market)}: {messages}") from exc


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
        market = Market.objects.get(pk=locked.market_id)
        locked.market = market
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
                f"Change request #{locked.pk} is now live in {market.code}.",
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
        request = ChangeRequest.objects.select_related("market").get(pk=pk)
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
