"""Reads for markets: rules as resolver input, markets a user may see."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from accounts.access import Action, markets_for
from markets.groups.selectors import group_specs
from markets.models import Market, Rule
from positioning.resolver import MarketSpec, RuleSpec


def rule_spec(rule: Rule) -> RuleSpec:
    """Return the resolver's view of a rule."""
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


def market_specs(markets: Iterable[Market]) -> dict[int, MarketSpec]:
    """Return resolver input for each market, keyed by market pk: its rules (one query) and its
    active groups with their rules (one query, two when any market is in a group)."""
    markets = list(markets)
    rules: dict[int, list[RuleSpec]] = defaultdict(list)
    for rule in Rule.objects.filter(market__in=markets).order_by("id"):
        rules[rule.market_id].append(rule_spec(rule))
    groups = group_specs(markets)
    return {
        m.pk: MarketSpec(
            code=m.code,
            default_visibility=m.default_visibility,
            rules=tuple(rules.get(m.pk, ())),
            groups=groups.get(m.pk, ()),
        )
        for m in markets
    }


def market_spec(market: Market) -> MarketSpec:
    """Return resolver input for one market (one query for its rules)."""
    return market_specs([market])[market.pk]


def market_list(*, user: Any, action: Action = Action.VIEW_MARKET) -> QuerySet[Market]:
    """Return the markets `user` may see (or act on), ordered by code."""
    return markets_for(user, action).order_by("code")


def market_get(*, user: Any, code: str, action: Action = Action.VIEW_MARKET) -> Market:
    """Return the market `code` if `user` may do `action` in it.

    Raises Market.DoesNotExist when it does not exist; AccessDenied when the user may not.
    """
    from accounts.access import require

    market = Market.objects.get(code=code.upper())
    require(user, action, market)
    return market


# --- portal pages (appended) -------------------------------------------------------------------


def active_rule_counts(*, markets: Iterable[Market] | None, at: Any) -> dict[int, int]:
    """Return the number of rules active at `at` per market pk (None = every market); one query."""
    from django.db.models import Count, Q

    rules = Rule.objects.filter(Q(starts_at__isnull=True) | Q(starts_at__lte=at)).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at)
    )
    if markets is not None:
        rules = rules.filter(market__in=[m.pk for m in markets])
    return {row["market_id"]: row["n"] for row in rules.values("market_id").annotate(n=Count("id"))}


def market_rules(*, market: Market) -> QuerySet[Rule]:
    """Return the market's rules, newest first, with their authors."""
    return Rule.objects.filter(market=market).select_related("author").order_by("-id")
