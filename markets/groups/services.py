"""Writes for market groups: the group, its members and its rules.

Each service checks access, then writes the change, its audit entry and its outbox rows in one
transaction. A group is one item of the `markets` shared table (keyed by its code): a change to
its name or rules is one row and one shared-table write however many members it has. Changes to
membership, priority or the active flag also republish the member markets' items, whose
`groups` list they change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import Action, require, require_in_group
from accounts.models import User
from markets.models import GroupMember, GroupRule, Market, MarketGroup
from markets.services import RULE_FIELDS, market_create, rule_field_errors
from portal.audit.services import AuditRecord, audit_bulk, audit_record, snapshot
from portal.errors import Conflict
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue, outbox_enqueue_many
from positioning.items import rule_entry
from positioning.tables import MAX_ITEM_BYTES, item_size

GROUP_FIELDS = ("code", "name", "description", "priority", "active")
GROUP_RULE_FIELDS = tuple(dict.fromkeys((*RULE_FIELDS, "binding")))
# Room for the group item's own fields (name, members…) next to its rules in the 400 KB item.
_GROUP_HEAD_BYTES = 8 * 1024
_UNSET: Any = object()


def _bump_group(group: MarketGroup) -> None:
    """Give the group (its shared item) a new version and queue it for publishing."""
    group.version += 1
    group.save(update_fields=["version", "updated_at"])
    outbox_enqueue(kind=OutboxKind.MARKET, key=group.code, version=group.version)


def _bump_markets(market_ids: Iterable[int]) -> None:
    """Republish the markets' items (their `groups` lists changed)."""
    markets = list(Market.objects.select_for_update().filter(pk__in=set(market_ids)).order_by("pk"))
    for market in markets:
        market.version += 1
        market.save(update_fields=["version", "updated_at"])
    outbox_enqueue_many(kind=OutboxKind.MARKET, entries=[(m.code, m.version) for m in markets])


def _lock_group(group: MarketGroup) -> MarketGroup:
    return MarketGroup.objects.select_for_update().get(pk=group.pk)


def _check_version(kind: str, stored: int, expected: int | None, current: dict[str, Any]) -> None:
    if expected is not None and expected != stored:
        raise Conflict(
            f"This {kind} was changed by someone else meanwhile (version {stored}, you edited "
            f"version {expected}). Review the current values and try again.",
            current=current,
        )


def _member_audit(actor: User | None, group: MarketGroup, market: Market, joined: bool) -> AuditRecord:
    verb = "joined" if joined else "left"
    return AuditRecord(
        action="group.member_join" if joined else "group.member_leave",
        object_type="group",
        object_id=group.code,
        object_repr=f"{market.code} {verb} {group.code}",
        market_code=market.code,
        after={"group": group.code, "market": market.code, "member": joined},
    )


def group_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    description: str = "",
    priority: int = 100,
    members: Sequence[Market] = (),
    via: str = "portal",
) -> MarketGroup:
    """Create a market group with its first members.

    Raises AccessDenied unless `actor` manages markets; ValidationError on a bad or taken code
    (a market's code included), name or priority.
    """
    if actor is not None:
        require(actor, Action.MANAGE_MARKETS)
    group = MarketGroup(
        code=code.strip().upper(), name=name.strip(), description=description.strip(), priority=priority
    )
    group.full_clean()
    if Market.objects.filter(code=group.code).exists():
        raise ValidationError({"code": f"{group.code} is a market's code; choose another group code."})
    members = list({m.pk: m for m in members}.values())
    with transaction.atomic():
        group.save()
        GroupMember.objects.bulk_create([GroupMember(group=group, market=m) for m in members])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="group.create",
                object_type="group",
                object_id=group.code,
                object_repr=str(group),
                market_code=group.code,
                after={**snapshot(group, GROUP_FIELDS), "members": sorted(m.code for m in members)},
            ),
            via=via,
        )
        if members:
            audit_bulk(actor=actor, records=[_member_audit(actor, group, m, True) for m in members], via=via)
            _bump_markets(m.pk for m in members)
        outbox_enqueue(kind=OutboxKind.MARKET, key=group.code, version=group.version)
    return group


def group_update(
    *,
    actor: User | None,
    group: MarketGroup,
    name: str = _UNSET,
    description: str = _UNSET,
    priority: int = _UNSET,
    active: bool = _UNSET,
    expected_version: int | None = None,
    via: str = "portal",
) -> MarketGroup:
    """Rename, describe, reprioritise, retire (active=False) or reactivate a group.

    Raises AccessDenied unless `actor` manages markets; ValidationError on bad values; Conflict
    when `expected_version` is stale.
    """
    if actor is not None:
        require(actor, Action.MANAGE_MARKETS)
    changes = {"name": name, "description": description, "priority": priority, "active": active}
    changes = {k: v for k, v in changes.items() if v is not _UNSET}
    with transaction.atomic():
        locked = _lock_group(group)
        before = snapshot(locked, GROUP_FIELDS)
        _check_version("group", locked.version, expected_version, before)
        for field, value in changes.items():
            setattr(locked, field, value.strip() if isinstance(value, str) else value)
        locked.full_clean()
        after = snapshot(locked, GROUP_FIELDS)
        if after == before:
            return locked
        locked.save()
        _bump_group(locked)
        if before["priority"] != after["priority"] or before["active"] != after["active"]:
            # The members' `groups` lists are ordered by priority and hold active groups only.
            _bump_markets(GroupMember.objects.filter(group=locked).values_list("market_id", flat=True))
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="group.update",
                object_type="group",
                object_id=locked.code,
                object_repr=str(locked),
                market_code=locked.code,
                before=before,
                after=after,
            ),
            via=via,
        )
    group.refresh_from_db()
    return locked


def group_members_set(
    *,
    actor: User | None,
    group: MarketGroup,
    add: Sequence[Market] = (),
    remove: Sequence[Market] = (),
    expected_version: int | None = None,
    via: str = "portal",
) -> tuple[list[str], list[str]]:
    """Add markets to and remove markets from a group; return the codes (joined, left).

    Adding a member already in the group or removing one not in it changes nothing. Raises
    AccessDenied unless `actor` manages markets; ValidationError when one market is both added
    and removed; Conflict when `expected_version` is stale.
    """
    if actor is not None:
        require(actor, Action.MANAGE_MARKETS)
    both = {m.code for m in add} & {m.code for m in remove}
    if both:
        raise ValidationError({"members": f"Add or remove {', '.join(sorted(both))}, not both."})
    with transaction.atomic():
        locked = _lock_group(group)
        _check_version("group", locked.version, expected_version, snapshot(locked, GROUP_FIELDS))
        current = set(GroupMember.objects.filter(group=locked).values_list("market_id", flat=True))
        joining = sorted({m.pk: m for m in add if m.pk not in current}.values(), key=lambda m: m.code)
        leaving = sorted({m.pk: m for m in remove if m.pk in current}.values(), key=lambda m: m.code)
        if not joining and not leaving:
            return [], []
        GroupMember.objects.bulk_create([GroupMember(group=locked, market=m) for m in joining])
        GroupMember.objects.filter(group=locked, market__in=leaving).delete()
        _bump_group(locked)
        _bump_markets(m.pk for m in [*joining, *leaving])
        audit_bulk(
            actor=actor,
            records=[_member_audit(actor, locked, m, True) for m in joining]
            + [_member_audit(actor, locked, m, False) for m in leaving],
            via=via,
        )
    group.refresh_from_db()
    return [m.code for m in joining], [m.code for m in leaving]


def group_member_add(*, actor: User | None, group: MarketGroup, market: Market, via: str = "portal") -> bool:
    """Make `market` a member of `group` ("DE joined DACH"); return whether it changed anything.

    Raises as group_members_set.
    """
    joined, _ = group_members_set(actor=actor, group=group, add=[market], via=via)
    return bool(joined)


def market_create_in_groups(
    *,
    actor: User | None,
    groups: Sequence[MarketGroup] = (),
    copy_from: Market | None = None,
    via: str = "portal",
    **fields: Any,
) -> Market:
    """Create a market (markets.services.market_create, with `fields`) and put it in `groups`.

    With `copy_from`, the new market starts as a copy of that market's rules and settings
    (market_create's `copy_rules_from`) and also joins every active group the source is in. One
    transaction; each membership is audited ("DE-TELEKOM joined DACH"). Raises as market_create
    and group_members_set (only admins create markets and change members).
    """
    with transaction.atomic():
        market = market_create(actor=actor, copy_rules_from=copy_from, via=via, **fields)
        wanted = list(groups)
        if copy_from is not None:
            wanted += list(MarketGroup.objects.filter(member_links__market=copy_from, active=True))
        for group in dict.fromkeys(wanted):
            group_member_add(actor=actor, group=group, market=market, via=via)
    return market


def group_member_remove(
    *, actor: User | None, group: MarketGroup, market: Market, via: str = "portal"
) -> bool:
    """Take `market` out of `group` ("DE left DACH"); return whether it changed anything.

    Raises as group_members_set.
    """
    _, left = group_members_set(actor=actor, group=group, remove=[market], via=via)
    return bool(left)


# --- group rules ---------------------------------------------------------------------------------


def _clean_list(values: Sequence[str] | None) -> list[str]:
    return sorted({v.strip() for v in values or () if v and v.strip()})


def _rule_entry(rule: GroupRule, rule_id: Any) -> dict[str, Any]:
    entry = rule_entry(
        rule_id=rule_id,
        action=rule.action,
        match_tags=rule.match_tags,
        match_content_types=rule.match_content_types,
        match_sources=rule.match_sources,
        boost=rule.boost,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        note=rule.note,
        binding=rule.binding,
    )
    return entry


def group_item_size_error(group: MarketGroup, extra_rule: GroupRule | None = None) -> str | None:
    """Return why `group`'s shared item (with `extra_rule` added or replaced) would pass 400 KB."""
    rules = list(GroupRule.objects.filter(group_id=group.pk).order_by("id"))
    if extra_rule is not None:
        rules = [r for r in rules if extra_rule.pk is None or r.pk != extra_rule.pk] + [extra_rule]
    size = item_size({"rules": [_rule_entry(r, r.pk or 2**63 - 1) for r in rules]}) + _GROUP_HEAD_BYTES
    if size <= MAX_ITEM_BYTES:
        return None
    return (
        f"With this rule, {group.code} would take {size / 1024:,.0f} KB in the shared tables, over "
        f"DynamoDB's limit of {MAX_ITEM_BYTES // 1024} KB per group. Remove rules you no longer need, "
        "or shorten long notes."
    )


def _validate_group_rule(rule: GroupRule, *, check_past: bool = True) -> None:
    errors = rule_field_errors(rule, check_past=check_past)
    if not errors:
        fields = (
            "action",
            "boost",
            "match_tags",
            "match_content_types",
            "match_sources",
            "starts_at",
            "ends_at",
        )
        wanted = tuple(getattr(rule, f) for f in fields)
        others = GroupRule.objects.filter(group_id=rule.group_id, action=rule.action).exclude(pk=rule.pk)
        twin = next((o for o in others if tuple(getattr(o, f) for f in fields) == wanted), None)
        if twin is not None:
            errors.setdefault("__all__", []).append(
                f"Rule #{twin.pk} in {rule.group.code} already does exactly this; edit that rule instead."
            )
    if not errors and (size_error := group_item_size_error(rule.group, extra_rule=rule)):
        errors.setdefault("__all__", []).append(size_error)
    if errors:
        raise ValidationError(errors)


def _rule_audit(
    action: str, rule: GroupRule, before: dict[str, Any] | None, reverts: int | None = None
) -> AuditRecord:
    binding = " (binding)" if rule.binding else ""
    # The version rides along so that a revert can tell whether the rule changed since.
    after = {**snapshot(rule, GROUP_RULE_FIELDS), "version": rule.version}
    return AuditRecord(
        action=action,
        object_type="group_rule",
        object_id=str(rule.pk),
        object_repr=f"{rule.group.code}: {rule.action} {rule.match_summary}{binding}",
        market_code=rule.group.code,
        before=before,
        after=after if action != "group_rule.delete" else None,
        reverts=reverts,
    )


def group_rule_create(
    *,
    actor: User | None,
    group: MarketGroup,
    action: str,
    match_tags: Sequence[str] | None = None,
    match_content_types: Sequence[str] | None = None,
    match_sources: Sequence[str] | None = None,
    boost: int = 0,
    binding: bool = False,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    note: str = "",
    via: str = "portal",
    reverts: int | None = None,
) -> GroupRule:
    """Add a hide or promote rule to a group (one row, one shared-table write).

    `reverts` names the audit entry this change undoes (a revert of a deleted rule). Raises
    AccessDenied unless `actor` may edit rules in the group (market manager of every member, a
    role on the group, or admin); ValidationError as for a market's rule, or a binding rule that
    does not hide.
    """
    if actor is not None:
        require_in_group(actor, Action.EDIT_RULES, group)
    rule = GroupRule(
        group=group,
        action=action,
        boost=boost,
        binding=binding,
        match_tags=_clean_list(match_tags),
        match_content_types=_clean_list(match_content_types),
        match_sources=_clean_list(match_sources),
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip(),
        author=actor,
    )
    _validate_group_rule(rule)
    with transaction.atomic():
        locked = _lock_group(group)
        rule.group = locked
        rule.save()
        _bump_group(locked)
        audit_record(actor=actor, record=_rule_audit("group_rule.create", rule, None, reverts), via=via)
    return rule


def group_rule_update(
    *,
    actor: User | None,
    rule: GroupRule,
    expected_version: int | None = None,
    via: str = "portal",
    reverts: int | None = None,
    **changes: Any,
) -> GroupRule:
    """Change a group rule's action, match, boost, binding, window or note (the keywords given).

    Raises AccessDenied, ValidationError (as group_rule_create), or Conflict on a stale version.
    """
    if actor is not None:
        require_in_group(actor, Action.EDIT_RULES, rule.group)
    unknown = set(changes) - set(GROUP_RULE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be changed." for field in unknown})
    with transaction.atomic():
        locked_group = _lock_group(rule.group)
        current = GroupRule.objects.select_for_update().get(pk=rule.pk)
        current.group = locked_group
        fields_before = snapshot(current, GROUP_RULE_FIELDS)
        before = {**fields_before, "version": current.version}
        _check_version("rule", current.version, expected_version, before)
        old_window = (current.starts_at, current.ends_at)
        for field, value in changes.items():
            if field.startswith("match_"):
                value = _clean_list(value)
            elif field == "note":
                value = (value or "").strip()
            setattr(current, field, value)
        _validate_group_rule(current, check_past=(current.starts_at, current.ends_at) != old_window)
        if snapshot(current, GROUP_RULE_FIELDS) == fields_before:
            return current
        current.version += 1
        current.author = actor if actor is not None else current.author
        current.save()
        _bump_group(locked_group)
        audit_record(actor=actor, record=_rule_audit("group_rule.update", current, before, reverts), via=via)
    return current


def group_rule_delete(
    *,
    actor: User | None,
    rule: GroupRule,
    expected_version: int | None = None,
    via: str = "portal",
    reverts: int | None = None,
) -> None:
    """Delete a group rule; the group's shared item is republished without it.

    Raises AccessDenied unless `actor` may edit rules in the group; Conflict on a stale version.
    """
    if actor is not None:
        require_in_group(actor, Action.EDIT_RULES, rule.group)
    with transaction.atomic():
        locked_group = _lock_group(rule.group)
        current = GroupRule.objects.select_for_update().get(pk=rule.pk)
        current.group = locked_group
        before = {**snapshot(current, GROUP_RULE_FIELDS), "version": current.version}
        _check_version("rule", current.version, expected_version, before)
        record = _rule_audit("group_rule.delete", current, before, reverts)
        current.delete()
        _bump_group(locked_group)
        audit_record(actor=actor, record=record, via=via)
