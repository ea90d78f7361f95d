"""Reverting a change (or a whole bulk change) from the audit log.

The inverse changes go through the ordinary services (positions, rules, market settings): they
check the reverting user's rights, bump versions, write the outbox rows, and audit each inverse
change with a link to the entry it undoes. Objects changed since the original change are left
alone unless the user forces them.

Every revert's change set passes through one function, `inverse_changes_submit`: the changes of
a market whose approval policy asks for review of them become a submitted change request there
(reverts respect approvals), and the rest apply at once.

Group positions and group rules go through the group services. A group change that needs
approval (the group's own policy, or a member's that would review it) becomes one submitted group
change request, as on the group pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.access import Action, require
from accounts.models import User
from content.models import ContentItem
from content.services import (
    GroupPositionRestore,
    PositionChange,
    PositionRestore,
    group_positions_restore,
    positions_restore,
)
from markets.groups.services import group_rule_create, group_rule_delete, group_rule_update
from markets.models import GroupRule, Market, MarketGroup, Rule
from markets.services import market_update, rule_create, rule_delete, rule_update
from portal.audit.revert.selectors import (
    Outcome,
    RevertPlan,
    RevertStep,
    RevertTarget,
    revert_entries,
    revert_plan,
)
from portal.change_requests.models import ApprovalPolicy
from portal.change_requests.services import (
    Operation,
    approvals_needed,
    changes_defer,
    group_approvals_needed,
    group_changes_defer,
)
from portal.errors import Conflict


@dataclass
class InverseChangeSet:
    """The changes one revert makes: position restores of markets and of groups (each applied in
    bulk) and other steps (rules, group rules, market settings)."""

    positions: list[PositionRestore] = field(default_factory=list)
    others: list[tuple[RevertStep, bool]] = field(default_factory=list)  # (step, forced)
    group_positions: list[GroupPositionRestore] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions) + len(self.others) + len(self.group_positions)


@dataclass(frozen=True)
class RevertFailure:
    entry_id: int
    object_repr: str
    market_code: str
    reason: str


@dataclass
class RevertResult:
    """What a revert did: undone, left as they were, skipped (changed since) and refused."""

    reverted: int = 0
    unchanged: int = 0
    skipped: list[RevertFailure] = field(default_factory=list)
    refused: list[RevertFailure] = field(default_factory=list)
    not_revertable: int = 0
    batch: str = ""
    # (market code, request id) of the changes filed for approval instead of applied.
    requests: list[tuple[str, int]] = field(default_factory=list)


def inverse_change_set(plan: RevertPlan, *, force: Collection[int] = ()) -> InverseChangeSet:
    """Return the changes that undo `plan`'s entries: those to revert, plus the changed-since
    entries the user ticked in `force` (their later change is overwritten)."""
    changes = InverseChangeSet()
    for step in plan.steps:
        forced = step.outcome == Outcome.CHANGED_SINCE and step.entry.pk in force
        if step.outcome != Outcome.REVERT and not forced:
            continue
        if step.kind == "group positions":
            assert step.group is not None and step.item_id is not None and step.restore is not None
            changes.group_positions.append(
                GroupPositionRestore(
                    group=step.group,
                    item_id=step.item_id,
                    content_id=step.entry.object_id,
                    change=PositionChange(**step.restore),
                    expected_version=None if forced else (step.entry.after or {}).get("version"),
                    reverts=step.entry.pk,
                )
            )
        elif step.kind == "positions":
            assert step.market is not None and step.item_id is not None and step.restore is not None
            changes.positions.append(
                PositionRestore(
                    market=step.market,
                    item_id=step.item_id,
                    content_id=step.entry.object_id,
                    change=PositionChange(**step.restore),
                    # Checked again under the row locks: a change made meanwhile is skipped too.
                    expected_version=None if forced else (step.entry.after or {}).get("version"),
                    reverts=step.entry.pk,
                )
            )
        else:
            changes.others.append((step, forced))
    return changes


def _failure(step: RevertStep, reason: str) -> RevertFailure:
    entry = step.entry
    return RevertFailure(entry.pk, entry.object_repr or entry.object_id, entry.market_code, reason)


def _apply_other(actor: User, step: RevertStep, forced: bool, via: str) -> None:
    """Undo one rule or market-settings entry through its service (raises as the service does)."""
    entry, restore = step.entry, step.restore or {}
    version = None if forced else step.version
    if entry.action == "group_rule.create":
        group_rule = GroupRule.objects.select_related("group").get(pk=int(entry.object_id))
        group_rule_delete(actor=actor, rule=group_rule, expected_version=version, via=via, reverts=entry.pk)
    elif entry.action == "group_rule.update":
        group_rule = GroupRule.objects.select_related("group").get(pk=int(entry.object_id))
        group_rule_update(
            actor=actor, rule=group_rule, expected_version=version, via=via, reverts=entry.pk, **restore
        )
    elif entry.action == "group_rule.delete":
        assert step.group is not None
        group_rule_create(actor=actor, group=step.group, via=via, reverts=entry.pk, **restore)
    elif entry.action == "rule.create":
        rule = Rule.objects.select_related("market").get(pk=int(entry.object_id))
        rule_delete(actor=actor, rule=rule, expected_version=version, via=via, reverts=entry.pk)
    elif entry.action in ("rule.update", "rule.binding_set", "rule.binding_clear"):
        rule = Rule.objects.select_related("market").get(pk=int(entry.object_id))
        rule_update(actor=actor, rule=rule, expected_version=version, via=via, reverts=entry.pk, **restore)
    elif entry.action == "rule.delete":
        assert step.market is not None
        rule_create(actor=actor, market=step.market, via=via, reverts=entry.pk, **restore)
    elif entry.action == "market.update":
        assert step.market is not None
        market_update(actor=actor, market=step.market, via=via, reverts=entry.pk, **restore)


def _step_market(step: RevertStep) -> Market:
    if step.market is not None:
        return step.market
    return Rule.objects.select_related("market").get(pk=int(step.entry.object_id)).market


def _step_operation(step: RevertStep, forced: bool) -> Operation:
    entry, restore = step.entry, step.restore or {}
    version = None if forced else step.version
    if entry.action == "rule.create":
        return Operation.rule_delete(Rule.objects.get(pk=int(entry.object_id)), expected_version=version)
    if entry.action in ("rule.update", "rule.binding_set", "rule.binding_clear"):
        rule = Rule.objects.get(pk=int(entry.object_id))
        return Operation.rule_update(rule, expected_version=version, **restore)
    if entry.action == "rule.delete":
        return Operation.rule_create(**restore)
    return Operation.settings(**restore)


@dataclass
class NeedsApproval:
    """The changes of one market or group that its approval policy (or, for a group, a member's)
    asks to review: a revert files them as one submitted change request there."""

    where: Market | MarketGroup
    positions: list[Any] = field(default_factory=list)  # PositionRestore | GroupPositionRestore
    steps: list[tuple[RevertStep, bool]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"group {self.where.code}" if isinstance(self.where, MarketGroup) else self.where.code


def _market_approvals(changes: InverseChangeSet) -> tuple[InverseChangeSet, list[NeedsApproval]]:
    """Split off the changes of markets whose policy asks for review (one query for the policies)."""
    markets: dict[int, Market] = {}
    restores: dict[int, list[PositionRestore]] = {}
    others: dict[int, list[tuple[RevertStep, bool]]] = {}
    for restore in changes.positions:
        markets[restore.market.pk] = restore.market
        restores.setdefault(restore.market.pk, []).append(restore)
    direct = InverseChangeSet(group_positions=changes.group_positions)
    for step, forced in changes.others:
        if step.group is not None:
            direct.others.append((step, forced))  # a group's: see _group_approvals
            continue
        market = _step_market(step)
        markets[market.pk] = market
        others.setdefault(market.pk, []).append((step, forced))
    needing: list[NeedsApproval] = []
    policies = {p.market_id: p for p in ApprovalPolicy.objects.filter(market_id__in=list(markets))}
    for pk, market in markets.items():
        mine, steps = restores.get(pk, []), others.get(pk, [])
        policy = policies.get(pk)
        needed = policy is not None and approvals_needed(
            market,
            positions=len(mine),
            bulk=len(mine) > 1,
            rules=any(step.entry.action.startswith("rule.") for step, _ in steps),
            settings=any(step.entry.action == "market.update" for step, _ in steps),
            policy=policy,
        )
        if needed:
            needing.append(NeedsApproval(market, list(mine), steps))
        else:
            direct.positions += mine
            direct.others += steps
    return direct, needing


def _group_approvals(changes: InverseChangeSet) -> tuple[InverseChangeSet, list[NeedsApproval]]:
    """Split off the group changes that need approval (the group's own policy, or a member's that
    would review them: `group_approvals_needed`)."""
    groups: dict[int, MarketGroup] = {}
    positions: dict[int, list[GroupPositionRestore]] = {}
    rules: dict[int, list[tuple[RevertStep, bool]]] = {}
    for restore in changes.group_positions:
        groups[restore.group.pk] = restore.group
        positions.setdefault(restore.group.pk, []).append(restore)
    direct = InverseChangeSet(positions=changes.positions)
    for step, forced in changes.others:
        if step.group is None:
            direct.others.append((step, forced))
            continue
        groups[step.group.pk] = step.group
        rules.setdefault(step.group.pk, []).append((step, forced))
    needing: list[NeedsApproval] = []
    for pk, group in groups.items():
        mine, steps = positions.get(pk, []), rules.get(pk, [])
        if group_approvals_needed(group, positions=len(mine), bulk=len(mine) > 1, rules=bool(steps)):
            needing.append(NeedsApproval(group, list(mine), steps))
        else:
            direct.group_positions += mine
            direct.others += steps
    return direct, needing


def _file(actor: User, needs: NeedsApproval, via: str) -> tuple[str, int]:
    """File one market's or group's changes as a submitted change request there."""
    items = ContentItem.objects.in_bulk([restore.item_id for restore in needs.positions])
    operations = [
        Operation.position(items[r.item_id], r.change, expected_version=r.expected_version)
        for r in needs.positions
    ]
    group = needs.where if isinstance(needs.where, MarketGroup) else None
    step_operation = _group_step_operation if group is not None else _step_operation
    operations += [step_operation(step, forced) for step, forced in needs.steps]
    reverted = sorted(
        {r.reverts for r in needs.positions if r.reverts} | {step.entry.pk for step, _ in needs.steps}
    )
    plural = "s" if len(reverted) != 1 else ""
    title = f"Revert of {len(reverted)} change{plural} in {needs.label}"[:200]
    if group is not None:
        request = group_changes_defer(
            actor=actor, group=group, operations=operations, title=title, submit=True, via=via
        )
    else:
        assert isinstance(needs.where, Market)
        request = changes_defer(
            actor=actor, market=needs.where, operations=operations, title=title, submit=True, via=via
        )
    return needs.where.code, request.pk


def approvals_ahead(plan: RevertPlan, *, force: Collection[int] = ()) -> list[str]:
    """Where reverting `plan` would file a change request instead of applying ("DE", "group
    DACH"): the confirmation page says so before anything is written."""
    changes = inverse_change_set(plan, force=force)
    changes, groups = _group_approvals(changes)
    _, markets = _market_approvals(changes)
    return [needs.label for needs in markets + groups]


def _group_step_operation(step: RevertStep, forced: bool) -> Operation:
    entry, restore = step.entry, step.restore or {}
    version = None if forced else step.version
    if entry.action == "group_rule.create":
        rule = GroupRule.objects.get(pk=int(entry.object_id))
        return Operation.rule_delete(rule, expected_version=version)
    if entry.action == "group_rule.update":
        rule = GroupRule.objects.get(pk=int(entry.object_id))
        return Operation.rule_update(rule, expected_version=version, **restore)
    return Operation.rule_create(**restore)


def inverse_changes_submit(*, actor: User, changes: InverseChangeSet, via: str = "portal") -> RevertResult:
    """Make a revert's inverse changes, through the services, in one transaction.

    Reverts respect approvals: a market whose policy asks for review of these changes gets one
    submitted change request with them instead (listed in the result's `requests`). Rule and
    settings steps that a service refuses (a rule that now clashes, a window no longer valid) are
    reported, not raised.
    """
    result = RevertResult()
    batch = uuid.uuid4()
    with transaction.atomic():
        changes, for_groups = _group_approvals(changes)
        changes, for_markets = _market_approvals(changes)
        result.requests = [_file(actor, needs, via) for needs in for_markets + for_groups]
        restored_sets = []
        if changes.positions:
            restored_sets.append(
                ("", positions_restore(actor=actor, restores=changes.positions, via=via, batch=batch))
            )
        if changes.group_positions:
            restored_sets.append(
                (
                    "group ",
                    group_positions_restore(
                        actor=actor, restores=changes.group_positions, via=via, batch=batch
                    ),
                )
            )
        for where, restored in restored_sets:
            result.reverted += restored.changed
            result.unchanged += restored.unchanged
            result.batch = result.batch or restored.batch
            for refusal in restored.refused:
                failure = RevertFailure(
                    refusal.reverts or 0,
                    f"{refusal.content_id} in {where}{refusal.market_code}",
                    refusal.market_code,
                    refusal.reason,
                )
                (result.skipped if refusal.changed_since else result.refused).append(failure)
        for step, forced in changes.others:
            try:
                # A savepoint each: a refused step leaves the others (and the positions) standing.
                with transaction.atomic():
                    _apply_other(actor, step, forced, via)
            except Conflict as exc:
                result.skipped.append(_failure(step, str(exc)))
            except (PermissionDenied, ValidationError, Rule.DoesNotExist, GroupRule.DoesNotExist) as exc:
                message = "; ".join(getattr(exc, "messages", [])) or str(exc)
                result.refused.append(_failure(step, message))
            else:
                result.reverted += 1
    return result


def revert_apply(
    *, actor: User, target: RevertTarget, force: Collection[int] = (), via: str = "portal"
) -> tuple[RevertPlan, RevertResult]:
    """Revert one audit entry or a whole bulk change as `actor`.

    Entries whose object changed since are skipped unless their id is in `force`; entries the
    actor may not undo are refused (listed, nothing else fails). Raises AccessDenied unless the
    actor may read the audit log; NotFound when the entry or batch is not theirs to see.
    """
    require(actor, Action.VIEW_AUDIT)
    with transaction.atomic():
        plan = revert_plan(user=actor, entries=revert_entries(user=actor, target=target))
        result = inverse_changes_submit(actor=actor, changes=inverse_change_set(plan, force=force), via=via)
    forced = set(force)
    for step in plan.changed_since:
        if step.entry.pk not in forced:
            result.skipped.append(_failure(step, step.reason))
    result.refused.extend(_failure(step, step.reason) for step in plan.refused)
    result.not_revertable = len(plan.not_revertable)
    result.unchanged += len(plan.nothing_to_do)
    return plan, result
