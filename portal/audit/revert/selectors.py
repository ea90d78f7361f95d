"""What reverting an audit entry (or a whole bulk batch) would do: the plan, read in bulk.

For each entry the plan says whether its inverse will be made, is skipped because the object
changed since (unless the user forces it), is refused (the user may not make it), has nothing
left to undo, or cannot be reverted at all (and why). Reading a batch of any size costs a fixed
number of queries: entries, later reverts, markets, groups, items, positions and rules, each in
one go (chunked by a thousand).

Market groups: group positions and group rules are reverted like a market's (through the group
services). A group's own settings and its membership are not: "DE left DACH" has no safe inverse
once the group's rules and positions have moved on (re-joining would apply today's rules, not
those of then), so those entries say to change the group on its page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import Prefetch

from accounts.access import Action, can, can_in_group, markets_for, require
from content.models import ContentItem, GroupPosition, Position, PositionState
from content.services.base import BATCH_SIZE, POSITION_FIELDS
from content.services.group_positions import GROUP_POSITION_FIELDS
from markets.groups.services import GROUP_RULE_FIELDS
from markets.models import GroupMember, GroupRule, Market, MarketGroup, Rule
from markets.services import MARKET_FIELDS, RULE_FIELDS
from portal.audit.models import AuditEntry
from portal.audit.selectors import AuditFilter, audit_search
from portal.audit.services import snapshot
from portal.errors import NotFound

# What a revert can undo, and through which service (the rest is listed as not revertable).
REVERTABLE = {
    "position.set": "positions",
    "position.reset": "positions",
    "rule.create": "rules",
    "rule.update": "rules",
    "rule.delete": "rules",
    # A rule update that set or cleared `binding` (markets.services names it so).
    "rule.binding_set": "rules",
    "rule.binding_clear": "rules",
    "market.update": "market settings",
    "group_rule.create": "group rules",
    "group_rule.update": "group rules",
    "group_rule.delete": "group rules",
}
_RULE_UPDATES = ("rule.update", "rule.binding_set", "rule.binding_clear")
WHY_NOT = {
    "market.create": "A market cannot be deleted from the portal; deactivate it in its settings instead.",
    "content": "Content items come from ingestion; a revert would be overwritten by the next import.",
    "tag": "Tags are edited on the item's page.",
    "group": "A group's settings and members are not reverted from the audit log (re-joining or "
    "leaving applies the group's rules and positions as they are now, not as they were); change "
    "the group on its page.",
}
# Entries of these object types are never reverted, whatever their action.
NOT_REVERTED_TYPES = frozenset({"group"})


def revert_kind(entry: AuditEntry) -> str:
    """Which service undoes `entry` ("positions", "rules", "market settings", "group positions",
    "group rules"), or "" when it cannot be reverted."""
    if entry.object_type in NOT_REVERTED_TYPES:
        return ""
    kind = REVERTABLE.get(entry.action, "")
    if entry.object_type == "group_position":
        # A group position's action is position.set/reset, like a market's.
        return "group positions" if kind == "positions" else ""
    return kind


class Outcome(StrEnum):
    REVERT = "revert"
    CHANGED_SINCE = "changed_since"
    REFUSED = "refused"
    NOTHING_TO_DO = "nothing_to_do"
    NOT_REVERTABLE = "not_revertable"


@dataclass
class RevertStep:
    """One audit entry in a revert plan: what will happen to it and why."""

    entry: AuditEntry
    outcome: Outcome
    reason: str = ""
    # The state the inverse restores (the entry's "before"), in the service's own terms.
    restore: dict[str, Any] | None = None
    # The object's version when planned (positions, rules): the apply checks it again.
    version: int | None = None
    market: Market | None = None
    item_id: int | None = None
    # A group position's or group rule's group (then `market` is None).
    group: MarketGroup | None = None

    @property
    def kind(self) -> str:
        return revert_kind(self.entry)


@dataclass
class RevertPlan:
    """The steps of a revert, one per audit entry, in the log's order."""

    steps: list[RevertStep] = field(default_factory=list)
    batch: uuid.UUID | None = None

    def of(self, outcome: Outcome) -> list[RevertStep]:
        return [s for s in self.steps if s.outcome == outcome]

    @property
    def to_revert(self) -> list[RevertStep]:
        return self.of(Outcome.REVERT)

    @property
    def changed_since(self) -> list[RevertStep]:
        return self.of(Outcome.CHANGED_SINCE)

    @property
    def refused(self) -> list[RevertStep]:
        return self.of(Outcome.REFUSED)

    @property
    def nothing_to_do(self) -> list[RevertStep]:
        return self.of(Outcome.NOTHING_TO_DO)

    @property
    def not_revertable(self) -> list[RevertStep]:
        return self.of(Outcome.NOT_REVERTABLE)

    @property
    def markets(self) -> list[str]:
        return sorted({s.entry.market_code for s in self.steps if s.entry.market_code})


@dataclass(frozen=True)
class RevertTarget:
    """One audit entry (`entry_id`) or one bulk change (`batch`)."""

    entry_id: int | None = None
    batch: uuid.UUID | None = None


def revert_entries(*, user: Any, target: RevertTarget) -> list[AuditEntry]:
    """Return the entries `target` names that `user` may read, oldest first.

    Raises NotFound when there is none (unknown, or outside the user's markets: the same answer).
    """
    if target.entry_id is not None and not 0 < target.entry_id < 2**63:
        raise NotFound("There is no such change in the audit log.")
    markets = list(markets_for(user, Action.VIEW_MARKET))
    if target.batch is not None:
        where = AuditFilter(batches=(str(target.batch),))
        entries = audit_search(user=user, markets=markets, where=where)
    else:
        entries = audit_search(user=user, markets=markets, where=AuditFilter())
        entries = entries.filter(pk=target.entry_id or 0)
    found = list(entries.order_by("created_at", "id"))
    if not found:
        raise NotFound("There is no such change in the audit log, or it is not in your markets.")
    return found


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def position_restore_values(before: dict[str, Any] | None) -> dict[str, Any] | None:
    """The position values an entry's `before` restores (None before means "no position": default).

    Returns None when `before` lacks a field (written before Meridian recorded whole positions).
    """
    if before is None:
        return {"state": PositionState.DEFAULT}
    if any(name not in before for name in POSITION_FIELDS):
        return None
    values = {name: before[name] for name in POSITION_FIELDS}
    values["starts_at"] = _parse_time(values["starts_at"])
    values["ends_at"] = _parse_time(values["ends_at"])
    return values


def group_position_restore_values(before: dict[str, Any] | None) -> dict[str, Any] | None:
    """The group position values an entry's `before` restores (None before: default), or None
    when `before` lacks a field."""
    if before is None:
        return {"state": PositionState.DEFAULT}
    if any(name not in before for name in GROUP_POSITION_FIELDS):
        return None
    values = {name: before[name] for name in GROUP_POSITION_FIELDS}
    values["starts_at"] = _parse_time(values["starts_at"])
    values["ends_at"] = _parse_time(values["ends_at"])
    return values


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), BATCH_SIZE):
        yield values[start : start + BATCH_SIZE]


def revert_plan(*, user: Any, entries: Sequence[AuditEntry]) -> RevertPlan:
    """Return what reverting `entries` as `user` would do, entry by entry (reads only)."""
    plan = RevertPlan()
    ids = [e.pk for e in entries]
    reverted: set[int] = set()
    for chunk in _chunks(ids):
        reverted.update(AuditEntry.objects.filter(reverts_id__in=chunk).values_list("reverts_id", flat=True))
    kinds = {e.pk: revert_kind(e) for e in entries}
    codes = {e.market_code for e in entries if e.market_code}
    market_codes = {e.market_code for e in entries if e.market_code and not kinds[e.pk].startswith("group")}
    markets = {m.code: m for m in Market.objects.filter(code__in=market_codes)} if market_codes else {}
    group_codes = {e.market_code for e in entries if kinds[e.pk].startswith("group")} & codes
    groups: dict[str, MarketGroup] = {}
    if group_codes:
        members = Prefetch("member_links", queryset=GroupMember.objects.only("group_id", "market_id"))
        groups = {
            g.code: g for g in MarketGroup.objects.filter(code__in=group_codes).prefetch_related(members)
        }
    position_entries = [e for e in entries if kinds[e.pk] == "positions"]
    group_position_entries = [e for e in entries if kinds[e.pk] == "group positions"]
    upstream = sorted({e.object_id for e in [*position_entries, *group_position_entries]})
    items: dict[str, int] = {}
    for chunk in _chunks(upstream):
        items.update(ContentItem.objects.filter(upstream_id__in=chunk).values_list("upstream_id", "pk"))
    positions: dict[tuple[int, int], Position] = {}
    market_ids = sorted({markets[e.market_code].pk for e in position_entries if e.market_code in markets})
    item_pks = sorted(set(items.values()))
    for chunk in _chunks(item_pks):
        for row in Position.objects.filter(market_id__in=market_ids, item_id__in=chunk).select_related(
            "author"
        ):
            positions[(row.market_id, row.item_id)] = row
    group_positions: dict[tuple[int, int], GroupPosition] = {}
    group_ids = sorted({groups[e.market_code].pk for e in group_position_entries if e.market_code in groups})
    if group_ids:
        for chunk in _chunks(item_pks):
            rows = GroupPosition.objects.filter(group_id__in=group_ids, item_id__in=chunk).select_related(
                "author"
            )
            for group_row in rows:
                group_positions[(group_row.group_id, group_row.item_id)] = group_row
    rule_ids = sorted(
        {int(e.object_id) for e in entries if e.object_type == "rule" and e.object_id.isdigit()}
    )
    rules: dict[int, Rule] = {}
    for chunk in _chunks(rule_ids):
        rules.update({r.pk: r for r in Rule.objects.filter(pk__in=chunk)})
    group_rule_ids = sorted(
        {int(e.object_id) for e in entries if kinds[e.pk] == "group rules" and e.object_id.isdigit()}
    )
    group_rules: dict[int, GroupRule] = {}
    for chunk in _chunks(group_rule_ids):
        group_rules.update({r.pk: r for r in GroupRule.objects.filter(pk__in=chunk)})

    for entry in entries:
        if kinds[entry.pk].startswith("group"):
            step = _plan_group_entry(user, entry, groups, items, group_positions, group_rules, reverted)
        else:
            step = _plan_entry(user, entry, markets, items, positions, rules, reverted)
        plan.steps.append(step)
    return plan


def _plan_entry(
    user: Any,
    entry: AuditEntry,
    markets: dict[str, Market],
    items: dict[str, int],
    positions: dict[tuple[int, int], Position],
    rules: dict[int, Rule],
    reverted: set[int],
) -> RevertStep:
    kind = revert_kind(entry)
    if not kind:
        why = WHY_NOT.get(entry.action) or WHY_NOT.get(entry.object_type)
        return RevertStep(entry, Outcome.NOT_REVERTABLE, why or f"{entry.action} changes cannot be reverted.")
    if entry.pk in reverted:
        return RevertStep(entry, Outcome.NOTHING_TO_DO, "Already reverted.")
    market = markets.get(entry.market_code)
    if market is None:
        return RevertStep(entry, Outcome.NOT_REVERTABLE, f"Market {entry.market_code} no longer exists.")
    if kind == "positions":
        return _plan_position(user, entry, market, items, positions)
    if kind == "rules":
        return _plan_rule(user, entry, market, rules)
    return _plan_market(user, entry, market)


def _plan_position(
    user: Any,
    entry: AuditEntry,
    market: Market,
    items: dict[str, int],
    positions: dict[tuple[int, int], Position],
) -> RevertStep:
    restore = position_restore_values(entry.before)
    after_version = (entry.after or {}).get("version")
    if restore is None or not isinstance(after_version, int):
        return RevertStep(
            entry,
            Outcome.NOT_REVERTABLE,
            "This entry was written before Meridian recorded whole positions; set the position by hand.",
        )
    item_id = items.get(entry.object_id)
    if item_id is None:
        return RevertStep(entry, Outcome.NOT_REVERTABLE, f"Content item {entry.object_id} no longer exists.")
    current = positions.get((market.pk, item_id))
    version = current.version if current is not None else 0
    step = RevertStep(entry, Outcome.REVERT, "", restore, version, market, item_id)
    if not can(user, Action.EDIT_POSITIONS, market):
        step.outcome, step.reason = Outcome.REFUSED, f"You may not edit positions in {market.code}."
    elif version != after_version:
        step.outcome = Outcome.CHANGED_SINCE
        who = current.author.get_username() if current is not None and current.author else "someone"
        step.reason = f"Changed since by {who} (version {version}; this change left version {after_version})."
    return step


def _rule_changed_since(entry: AuditEntry, rule: Rule) -> bool:
    after = entry.after or {}
    if isinstance(after.get("version"), int):
        return bool(after["version"] != rule.version)
    # Entries written before rules' versions were recorded: compare the fields instead.
    return {k: after.get(k) for k in RULE_FIELDS} != snapshot(rule, RULE_FIELDS)


def _plan_rule(user: Any, entry: AuditEntry, market: Market, rules: dict[int, Rule]) -> RevertStep:
    rule = rules.get(int(entry.object_id)) if entry.object_id.isdigit() else None
    step = RevertStep(entry, Outcome.REVERT, "", None, rule.version if rule else None, market)
    if entry.action == "rule.create":
        if rule is None:
            return RevertStep(entry, Outcome.NOTHING_TO_DO, "The rule was deleted since.")
        if _rule_changed_since(entry, rule):
            step.outcome, step.reason = Outcome.CHANGED_SINCE, "The rule was edited since."
    elif entry.action in _RULE_UPDATES and entry.before is None:
        # The second entry of a rule created binding: its rule.create entry is the one to revert.
        return RevertStep(entry, Outcome.NOT_REVERTABLE, "Revert the rule's creation instead.")
    elif entry.action in _RULE_UPDATES:
        if rule is None:
            return RevertStep(entry, Outcome.NOT_REVERTABLE, "The rule was deleted since.")
        before = entry.before or {}
        step.restore = {
            k: before[k] for k in RULE_FIELDS if k in before and before[k] != (entry.after or {}).get(k)
        }
        for name in ("starts_at", "ends_at"):
            if name in step.restore:
                step.restore[name] = _parse_time(step.restore[name])
        if _rule_changed_since(entry, rule):
            step.outcome, step.reason = Outcome.CHANGED_SINCE, "The rule was edited since."
    else:  # rule.delete: the rule comes back (as a new rule, with a new number)
        before = entry.before or {}
        # Rules deleted before `binding` existed were not binding.
        if any(k not in before for k in RULE_FIELDS if k != "binding"):
            return RevertStep(entry, Outcome.NOT_REVERTABLE, "The deleted rule was not recorded whole.")
        step.restore = {k: before.get(k, False) for k in RULE_FIELDS}
        step.restore["starts_at"] = _parse_time(step.restore["starts_at"])
        step.restore["ends_at"] = _parse_time(step.restore["ends_at"])
    if not can(user, Action.EDIT_RULES, market):
        step.outcome, step.reason = Outcome.REFUSED, f"You may not edit rules in {market.code}."
    elif ((rule is not None and rule.binding) or (step.restore or {}).get("binding")) and not can(
        user, Action.SET_BINDING_RULES, market
    ):
        step.outcome = Outcome.REFUSED
        step.reason = f"Only market managers of {market.code} and admins may change a binding rule."
    return step


def _plan_market(user: Any, entry: AuditEntry, market: Market) -> RevertStep:
    before, after = entry.before or {}, entry.after or {}
    # A market's code never changes; (de)activation has its own admin actions, not settings.
    changed = [
        k
        for k in MARKET_FIELDS
        if k not in ("code", "active") and k in before and before.get(k) != after.get(k)
    ]
    step = RevertStep(entry, Outcome.REVERT, "", {k: before[k] for k in changed}, market.version, market)
    if not changed:
        return RevertStep(entry, Outcome.NOTHING_TO_DO, "Nothing in the settings changed.")
    if any(getattr(market, k) != after.get(k) for k in changed):
        step.outcome, step.reason = Outcome.CHANGED_SINCE, "These settings were changed since."
    if not can(user, Action.EDIT_MARKET_SETTINGS, market):
        step.outcome, step.reason = Outcome.REFUSED, f"You may not edit {market.code}'s settings."
    return step


# --- market groups ------------------------------------------------------------------------------


def _plan_group_entry(
    user: Any,
    entry: AuditEntry,
    groups: dict[str, MarketGroup],
    items: dict[str, int],
    positions: dict[tuple[int, int], GroupPosition],
    rules: dict[int, GroupRule],
    reverted: set[int],
) -> RevertStep:
    if entry.pk in reverted:
        return RevertStep(entry, Outcome.NOTHING_TO_DO, "Already reverted.")
    group = groups.get(entry.market_code)
    if group is None:
        return RevertStep(entry, Outcome.NOT_REVERTABLE, f"Group {entry.market_code} no longer exists.")
    if revert_kind(entry) == "group positions":
        return _plan_group_position(user, entry, group, items, positions)
    return _plan_group_rule(user, entry, group, rules)


def _plan_group_position(
    user: Any,
    entry: AuditEntry,
    group: MarketGroup,
    items: dict[str, int],
    positions: dict[tuple[int, int], GroupPosition],
) -> RevertStep:
    restore = group_position_restore_values(entry.before)
    after_version = (entry.after or {}).get("version")
    if restore is None or not isinstance(after_version, int):
        return RevertStep(
            entry,
            Outcome.NOT_REVERTABLE,
            "This entry was not recorded whole; set the group position by hand.",
        )
    item_id = items.get(entry.object_id)
    if item_id is None:
        return RevertStep(entry, Outcome.NOT_REVERTABLE, f"Content item {entry.object_id} no longer exists.")
    current = positions.get((group.pk, item_id))
    version = current.version if current is not None else 0
    step = RevertStep(entry, Outcome.REVERT, "", restore, version, None, item_id, group)
    if not can_in_group(user, Action.EDIT_POSITIONS, group):
        step.outcome = Outcome.REFUSED
        step.reason = f"You may not edit positions in group {group.code} (you need it in every member)."
    elif version != after_version:
        step.outcome = Outcome.CHANGED_SINCE
        who = current.author.get_username() if current is not None and current.author else "someone"
        step.reason = f"Changed since by {who} (version {version}; this change left version {after_version})."
    return step


def _group_rule_changed_since(entry: AuditEntry, rule: GroupRule) -> bool:
    after = entry.after or {}
    if isinstance(after.get("version"), int):
        return bool(after["version"] != rule.version)
    # Entries written before group rules' versions were recorded: compare the fields instead.
    return {k: after.get(k) for k in GROUP_RULE_FIELDS} != snapshot(rule, GROUP_RULE_FIELDS)


def _plan_group_rule(
    user: Any, entry: AuditEntry, group: MarketGroup, rules: dict[int, GroupRule]
) -> RevertStep:
    rule = rules.get(int(entry.object_id)) if entry.object_id.isdigit() else None
    step = RevertStep(entry, Outcome.REVERT, "", None, rule.version if rule else None, None, None, group)
    before = entry.before or {}
    if entry.action == "group_rule.create":
        if rule is None:
            return RevertStep(entry, Outcome.NOTHING_TO_DO, "The rule was deleted since.")
        if _group_rule_changed_since(entry, rule):
            step.outcome, step.reason = Outcome.CHANGED_SINCE, "The rule was edited since."
    elif entry.action == "group_rule.update":
        if rule is None:
            return RevertStep(entry, Outcome.NOT_REVERTABLE, "The rule was deleted since.")
        after = entry.after or {}
        step.restore = {k: before[k] for k in GROUP_RULE_FIELDS if k in before and before[k] != after.get(k)}
        if _group_rule_changed_since(entry, rule):
            step.outcome, step.reason = Outcome.CHANGED_SINCE, "The rule was edited since."
    else:  # group_rule.delete: the rule comes back (as a new rule, with a new number)
        if any(k not in before for k in GROUP_RULE_FIELDS):
            return RevertStep(entry, Outcome.NOT_REVERTABLE, "The deleted rule was not recorded whole.")
        step.restore = {k: before[k] for k in GROUP_RULE_FIELDS}
    for name in ("starts_at", "ends_at"):
        if step.restore and name in step.restore:
            step.restore[name] = _parse_time(step.restore[name])
    if not can_in_group(user, Action.EDIT_RULES, group):
        step.outcome = Outcome.REFUSED
        step.reason = f"You may not edit rules in group {group.code} (you need it in every member)."
    return step


def revert_preview(*, user: Any, target: RevertTarget) -> RevertPlan:
    """Return what reverting `target` would do for `user` now (the dry run).

    Raises AccessDenied unless `user` may read the audit log; NotFound as revert_entries.
    """
    require(user, Action.VIEW_AUDIT)
    return revert_plan(user=user, entries=revert_entries(user=user, target=target))
