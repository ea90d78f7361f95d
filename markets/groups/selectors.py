"""Reads for market groups: the groups a user sees, one group, and resolver input."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from accounts.access import AccessDenied, Action, can, can_view_group, grants_for, require_in_group
from markets.models import GroupMember, GroupRule, Market, MarketGroup
from positioning.resolver import GroupSpec, RuleSpec


def _groups_with_members() -> QuerySet[MarketGroup]:
    return MarketGroup.objects.prefetch_related(
        Prefetch(
            "member_links", queryset=GroupMember.objects.select_related("market").order_by("market__code")
        )
    )


def group_list(*, user: Any) -> QuerySet[MarketGroup]:
    """Return the groups `user` sees (admins: all; others: groups with a member they may view, or
    a role on the group), members prefetched, ordered by code."""
    grants = grants_for(user)
    groups = _groups_with_members().order_by("code")
    if Action.VIEW_MARKET in grants.everywhere:
        return groups
    markets = grants.market_ids(Action.VIEW_MARKET)
    mine = [gid for gid, actions in grants.per_group.items() if Action.VIEW_MARKET in actions]
    return groups.filter(Q(member_links__market_id__in=markets) | Q(pk__in=mine)).distinct()


def group_get(*, user: Any, code: str, action: Action = Action.VIEW_MARKET) -> MarketGroup:
    """Return the group `code` (members prefetched) if `user` may see it, and do `action` in it
    when `action` is not VIEW_MARKET.

    Raises MarketGroup.DoesNotExist when there is none; AccessDenied when the user may not.
    """
    group = _groups_with_members().get(code=code.strip().upper())
    if not can_view_group(user, group):
        raise AccessDenied(Action.VIEW_MARKET, group_code=group.code)
    if action != Action.VIEW_MARKET:
        if action == Action.MANAGE_MARKETS:
            from accounts.access import require

            require(user, action)
        else:
            require_in_group(user, action, group)
    return group


def group_with_members(code: str) -> MarketGroup | None:
    """Return the group `code` with its members prefetched, or None (no access check: the caller's)."""
    return _groups_with_members().filter(code=code.strip().upper()).first()


def group_members_viewable(*, user: Any, group: MarketGroup) -> list[Market]:
    """Return the group's members `user` may view, by code (uses the prefetched members)."""
    return [link.market for link in group.member_links.all() if can(user, Action.VIEW_MARKET, link.market)]


def group_member_codes(group: MarketGroup) -> list[str]:
    """The group's member codes, sorted (uses the prefetched members)."""
    return sorted(link.market.code for link in group.member_links.all())


def group_rules(*, group: MarketGroup) -> QuerySet[GroupRule]:
    """Return the group's rules, newest first, with their authors."""
    return GroupRule.objects.filter(group=group).select_related("author", "group").order_by("-id")


def group_rule_spec(rule: GroupRule) -> RuleSpec:
    """Return the resolver's view of a group rule (the decision's `source` names the group)."""
    return RuleSpec(
        id=str(rule.pk),
        action=rule.action,
        tags=frozenset(rule.match_tags),
        content_types=frozenset(rule.match_content_types),
        sources=frozenset(rule.match_sources),
        boost=rule.boost,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        note=rule.note,
        binding=rule.binding,
    )


def groups_of_markets(markets: Iterable[Market]) -> dict[int, list[MarketGroup]]:
    """Return each market's active groups in (priority, code) order, keyed by market pk, with the
    groups' rules as `group_rules` (two queries)."""
    market_ids = [m.pk for m in markets]
    links = (
        GroupMember.objects.filter(market_id__in=market_ids, group__active=True)
        .select_related("group")
        .order_by("group__priority", "group__code")
    )
    by_market: dict[int, list[MarketGroup]] = defaultdict(list)
    groups: dict[int, MarketGroup] = {}
    for link in links:
        group = groups.setdefault(link.group_id, link.group)
        by_market[link.market_id].append(group)
    rules: dict[int, list[GroupRule]] = defaultdict(list)
    if groups:
        for rule in GroupRule.objects.filter(group_id__in=list(groups)).order_by("id"):
            rules[rule.group_id].append(rule)
    for group_id, group in groups.items():
        group.group_rules = rules.get(group_id, [])  # type: ignore[attr-defined]
    return dict(by_market)


def group_specs(markets: Iterable[Market]) -> dict[int, tuple[GroupSpec, ...]]:
    """Return each market's active groups as resolver input (with their rules), keyed by market
    pk; one query, two when any market is in a group."""
    by_market = groups_of_markets(markets)
    specs: dict[int, GroupSpec] = {}
    for groups in by_market.values():
        for group in groups:
            if group.pk not in specs:
                specs[group.pk] = GroupSpec(
                    code=group.code,
                    priority=group.priority,
                    name=group.name,
                    rules=tuple(group_rule_spec(r) for r in group.group_rules),  # type: ignore[attr-defined]
                )
    return {market_id: tuple(specs[g.pk] for g in groups) for market_id, groups in by_market.items()}


def group_codes_for(*, user: Any, action: Action) -> list[str]:
    """Return the codes of the active groups in which `user` may do `action` (one query)."""
    grants = grants_for(user)
    if action in grants.everywhere:
        return list(MarketGroup.objects.filter(active=True).order_by("code").values_list("code", flat=True))
    members: dict[tuple[int, str], list[int]] = defaultdict(list)
    rows = (
        MarketGroup.objects.filter(active=True)
        .order_by("code")
        .values_list("pk", "code", "member_links__market_id")
    )
    for pk, code, market_id in rows:
        ids = members[(pk, code)]
        if market_id is not None:
            ids.append(market_id)
    return [code for (pk, code), ids in members.items() if grants.allows_in_group(action, pk, ids)]


def market_groups(*, market: Market) -> list[MarketGroup]:
    """Return the groups `market` belongs to, strongest first (priority, then code); one query."""
    return list(MarketGroup.objects.filter(member_links__market=market).order_by("priority", "code"))
