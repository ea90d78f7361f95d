"""Reads for change requests: lists (filtered, scoped to the markets a user may see), one request
with what it changes, and the dashboard's queues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.access import Action, can, can_in_group, markets_for
from content.models import GroupPosition, Position
from markets.groups.selectors import group_list
from markets.models import GroupMember, GroupRule, Market, Rule
from portal.change_requests.models import (
    Approval,
    ChangeOperation,
    ChangeRequest,
    OperationKind,
    RequestState,
)

OPEN = (RequestState.DRAFT, RequestState.SUBMITTED, RequestState.APPROVED, RequestState.FAILED)
KIND_ACTION: dict[str, Action] = {
    OperationKind.POSITION: Action.EDIT_POSITIONS,
    OperationKind.RULE_CREATE: Action.EDIT_RULES,
    OperationKind.RULE_UPDATE: Action.EDIT_RULES,
    OperationKind.RULE_DELETE: Action.EDIT_RULES,
    OperationKind.SETTINGS: Action.EDIT_MARKET_SETTINGS,
}


def requests_visible(*, user: Any) -> QuerySet[ChangeRequest]:
    """Requests in the markets and groups `user` may see (drafts only their author's), with counts
    annotated. A group request's members are prefetched (who may review it depends on them)."""
    markets = markets_for(user, Action.VIEW_MARKET)
    groups = group_list(user=user).values("pk")
    return (
        ChangeRequest.objects.filter(Q(market__in=markets) | Q(group__in=groups))
        .exclude(Q(state=RequestState.DRAFT) & ~Q(author=user))
        .select_related("market", "group", "author")
        .prefetch_related(
            Prefetch("group__member_links", queryset=GroupMember.objects.only("group_id", "market_id"))
        )
        .annotate(
            approval_count=Count("approvals", distinct=True),
            operation_count=Count("operations", distinct=True),
        )
    )


def request_list(
    *, user: Any, state: str = "", market: str = "", author: str = ""
) -> QuerySet[ChangeRequest]:
    """Requests `user` may see, filtered by state, market code and author username."""
    qs = requests_visible(user=user)
    if state:
        qs = qs.filter(state=state)
    if market:
        # A market's code or a group's.
        qs = qs.filter(Q(market__code=market.upper()) | Q(group__code=market.upper()))
    if author:
        qs = qs.filter(author__username=author)
    return qs.order_by("-id")


def request_get(*, user: Any, pk: int) -> ChangeRequest:
    """Return request `pk` if `user` may see it. Raises ChangeRequest.DoesNotExist (a draft of
    someone else's, or a market the user may not see, is as missing)."""
    return requests_visible(user=user).get(pk=pk)


def _touch_kinds(request: ChangeRequest) -> set[str]:
    kinds: set[str] = set()
    if request.touches_positions:
        kinds.add(OperationKind.POSITION)
    if request.touches_rules:
        kinds.add(OperationKind.RULE_UPDATE)
    if request.touches_settings:
        kinds.add(OperationKind.SETTINGS)
    return kinds


def may_review(user: Any, request: ChangeRequest) -> bool:
    """Whether `user` may approve or reject `request`: not its author, and holding every right in it."""
    if request.author_id is not None and request.author_id == getattr(user, "pk", None):
        return False
    kinds = _touch_kinds(request)
    if request.group_id is not None and request.group is not None:
        # A group request: the right in the group (admins, a role on the group, or the right in
        # every member market). A member's manager whose policy asked for the review qualifies when
        # they hold it.
        group = request.group
        return bool(kinds) and all(can_in_group(user, KIND_ACTION[k], group) for k in kinds)
    return bool(kinds) and all(can(user, KIND_ACTION[k], request.market) for k in kinds)


def waiting_for_review(*, user: Any, limit: int = 20) -> list[ChangeRequest]:
    """Submitted requests `user` may approve and has not approved yet (newest first)."""
    mine = Approval.objects.filter(user=user).values("request_id")
    qs = (
        requests_visible(user=user)
        .filter(state=RequestState.SUBMITTED)
        .exclude(author=user)
        .exclude(pk__in=mine)
        .order_by("apply_at", "-id")
    )
    return [r for r in qs[: limit * 5] if may_review(user, r)][:limit]


def my_open_requests(*, user: Any, limit: int = 20) -> list[ChangeRequest]:
    """The user's own requests that are not applied, rejected or withdrawn."""
    return list(requests_visible(user=user).filter(author=user, state__in=OPEN).order_by("-id")[:limit])


@dataclass(frozen=True)
class OperationDiff:
    """One operation: what it changes, from what (its base) to what, and whether that base is stale."""

    operation: ChangeOperation
    label: str
    rows: list[tuple[str, Any, Any]]
    current_version: int | None
    stale: bool


def _rows(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    new = not before
    before, after = before or {}, after or {}
    names = list(dict.fromkeys([*after, *before]))
    return [
        (n, before.get(n), after.get(n))
        for n in names
        if n in after and before.get(n) != after.get(n) and not (new and after.get(n) in (None, "", 0, []))
    ]


def _settings_now(market_id: int) -> dict[str, Any]:
    values = Market.objects.filter(pk=market_id).values(*SETTINGS_FIELDS).first() or {}
    return {k: values.get(k) for k in SETTINGS_FIELDS}


SETTINGS_FIELDS = ("name", "languages", "timezone", "default_visibility")


def _group_diff(request: ChangeRequest, ops: list[ChangeOperation]) -> list[OperationDiff]:
    item_ids = [op.item_id for op in ops if op.item_id]
    positions = dict(
        GroupPosition.objects.filter(group_id=request.group_id, item_id__in=item_ids).values_list(
            "item_id", "version"
        )
    )
    rule_versions = dict(
        GroupRule.objects.filter(pk__in=[op.group_rule_id for op in ops if op.group_rule_id]).values_list(
            "pk", "version"
        )
    )
    diffs = []
    for op in ops:
        current: int | None
        if op.kind == OperationKind.POSITION:
            current = positions.get(op.item_id or 0, 0)
            title, cid = (op.item.title, op.item.upstream_id) if op.item else ("?", "")
            label = f"Group position of {title} ({cid})"
            rows = _rows(op.before, op.values)
            rows = [r for r in rows if r[0] != "slot"]
        elif op.kind == OperationKind.RULE_CREATE:
            current = None
            label = "New group rule"
            rows = _rows(None, op.values)
        else:
            current = rule_versions.get(op.group_rule_id or 0)
            label = f"Group rule #{op.group_rule_id}" + (
                " (deleted)" if op.kind == OperationKind.RULE_DELETE else ""
            )
            rows = (
                _rows(op.before, op.values)
                if op.kind == OperationKind.RULE_UPDATE
                else [(k, v, None) for k, v in (op.before or {}).items() if v not in (None, "", [])]
            )
        stale = op.base_version is not None and current != op.base_version
        diffs.append(OperationDiff(op, label, rows, current, stale))
    return diffs


def request_diff(request: ChangeRequest) -> list[OperationDiff]:
    """Before → after per operation, and whether each object changed since its base (three queries)."""
    ops = list(request.operations.select_related("item", "rule").order_by("id"))
    if request.group_id is not None:
        return _group_diff(request, ops)
    market_id = request.market_id
    assert market_id is not None
    item_ids = [op.item_id for op in ops if op.item_id]
    positions = {
        p.item_id: p.version
        for p in Position.objects.filter(market_id=market_id, item_id__in=item_ids).only("item_id", "version")
    }
    rule_versions = dict(
        Rule.objects.filter(pk__in=[op.rule_id for op in ops if op.rule_id]).values_list("pk", "version")
    )
    market_version = Market.objects.filter(pk=market_id).values_list("version", flat=True).first()
    diffs = []
    for op in ops:
        current: int | None
        if op.kind == OperationKind.POSITION:
            current = positions.get(op.item_id or 0, 0)
            label = (
                f"Position of {op.item.title if op.item else '?'} ({op.item.upstream_id if op.item else ''})"
            )
            rows = _rows(op.before, op.values)
        elif op.kind == OperationKind.SETTINGS:
            current = market_version
            label = "Market settings"
            rows = _rows(op.before, op.values)
            now = _settings_now(market_id)
            diffs.append(OperationDiff(op, label, rows, current, now != (op.before or {})))
            continue
        elif op.kind == OperationKind.RULE_CREATE:
            current = None
            label = "New rule"
            rows = _rows(None, op.values)
        else:
            current = rule_versions.get(op.rule_id or 0)
            label = f"Rule #{op.rule_id}" + (" (deleted)" if op.kind == OperationKind.RULE_DELETE else "")
            rows = (
                _rows(op.before, op.values)
                if op.kind == OperationKind.RULE_UPDATE
                else [(k, v, None) for k, v in (op.before or {}).items() if v not in (None, "", [])]
            )
        stale = op.base_version is not None and current != op.base_version
        diffs.append(OperationDiff(op, label, rows, current, stale))
    return diffs


def request_approvers(request: ChangeRequest) -> list[Approval]:
    return list(request.approvals.select_related("user").order_by("created_at"))
