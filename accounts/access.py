"""The one place that answers "may this user do X in market M".

Every view, API view and service asks here; nothing else checks roles. Grants are loaded
once per user object (one query) and cached on it, so list pages stay free of N+1 queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import Membership, Role

if TYPE_CHECKING:
    from markets.models import Market, MarketGroup


class Action(StrEnum):
    VIEW_MARKET = "view_market"
    EDIT_POSITIONS = "edit_positions"
    EDIT_RULES = "edit_rules"
    EDIT_MARKET_SETTINGS = "edit_market_settings"
    # Mark a hide rule binding (it then beats editors' positions) or clear that: a legal duty,
    # so market managers of that market and admins only, never editors.
    SET_BINDING_RULES = "set_binding_rules"
    # Not market-scoped: a content item's tags are the same in every market.
    EDIT_TAGS = "edit_tags"
    VIEW_CONTENT = "view_content"
    # Ingestion: create and update content items by upstream id.
    IMPORT_CONTENT = "import_content"
    VIEW_AUDIT = "view_audit"
    REVIEW_LABELS = "review_labels"
    MANAGE_MARKETS = "manage_markets"
    MANAGE_PARTNERS = "manage_partners"
    MANAGE_USERS = "manage_users"


MARKET_ACTIONS = frozenset(
    {
        Action.VIEW_MARKET,
        Action.EDIT_POSITIONS,
        Action.EDIT_RULES,
        Action.EDIT_MARKET_SETTINGS,
        Action.SET_BINDING_RULES,
    }
)
# The actions that change something in a market. An inactive market refuses them all, whoever
# asks: it stays readable (and published, with `active: false`) until an admin reactivates it.
MARKET_WRITE_ACTIONS = frozenset({Action.EDIT_POSITIONS, Action.EDIT_RULES, Action.EDIT_MARKET_SETTINGS})

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.EDITOR: frozenset(
        {
            Action.VIEW_MARKET,
            Action.EDIT_POSITIONS,
            Action.EDIT_TAGS,
            Action.VIEW_CONTENT,
            Action.IMPORT_CONTENT,
            Action.VIEW_AUDIT,
        }
    ),
    Role.MARKET_MANAGER: frozenset(
        {
            Action.VIEW_MARKET,
            Action.EDIT_POSITIONS,
            Action.EDIT_RULES,
            Action.EDIT_MARKET_SETTINGS,
            Action.SET_BINDING_RULES,
            Action.VIEW_CONTENT,
            Action.VIEW_AUDIT,
        }
    ),
    Role.REVIEWER: frozenset({Action.REVIEW_LABELS}),
}


class AccessDenied(PermissionDenied):
    """Raised when a user may not do an action (in a market). Views answer 403."""

    def __init__(
        self, action: Action, market_code: str | None = None, *, group_code: str | None = None
    ) -> None:
        if group_code:
            where = f" in group {group_code} (you need it in the group or in every member market)"
        else:
            where = f" in market {market_code}" if market_code else ""
        super().__init__(f"You are not allowed to {action.value.replace('_', ' ')}{where}.")
        self.action = action
        self.market_code = market_code or group_code


class MarketInactive(AccessDenied):
    """Raised when anyone, the system included, would change something in an inactive market."""

    def __init__(self, action: Action, market_code: str) -> None:
        super().__init__(action, market_code)
        self.args = (
            f"Market {market_code} is inactive: nothing in it can be changed until an admin reactivates it.",
        )


def require_active(market: Market, action: Action = Action.EDIT_MARKET_SETTINGS) -> None:
    """Raise MarketInactive when `market` is inactive (for writes the system makes without a user)."""
    if not market.active:
        raise MarketInactive(action, market.code)


@dataclass
class Grants:
    """What one user may do: actions everywhere, per market id and per group id.

    A role granted on a group is also granted in each of its member markets (`per_market`), as
    they are when the grants are loaded: a market joining the group later is covered from then on.
    """

    everywhere: set[Action] = field(default_factory=set)
    per_market: dict[int, set[Action]] = field(default_factory=dict)
    per_group: dict[int, set[Action]] = field(default_factory=dict)
    roles: set[str] = field(default_factory=set)

    def allows_in_group(self, action: Action, group_id: int, member_ids: Iterable[int]) -> bool:
        """Whether `action` is granted everywhere, on the group, or in every one of its members.

        A group without members is left to admins and to roles granted on the group itself.
        """
        if action in self.everywhere or action in self.per_group.get(group_id, ()):
            return True
        members = list(member_ids)
        return bool(members) and all(action in self.per_market.get(mid, ()) for mid in members)

    def allows(self, action: Action, market_id: int | None) -> bool:
        if action in self.everywhere:
            return True
        if market_id is None:
            # A global question ("may edit tags at all") is answered by any market's grant.
            return any(action in actions for actions in self.per_market.values())
        return action in self.per_market.get(market_id, ())

    def market_ids(self, action: Action) -> set[int]:
        return {mid for mid, actions in self.per_market.items() if action in actions}


_CACHE_ATTR = "_meridian_grants"


def grants_for(user: Any) -> Grants:
    """Return the user's grants, loading memberships once per user object."""
    cached: Grants | None = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    grants = Grants()
    if user is not None and user.is_authenticated and user.is_active:
        if user.is_superuser:
            grants.everywhere |= ROLE_ACTIONS[Role.ADMIN]
            grants.roles.add(Role.ADMIN)
        for role, market_id, group_id in Membership.objects.filter(user=user).values_list(
            "role", "market", "group"
        ):
            actions = ROLE_ACTIONS.get(role, frozenset())
            grants.roles.add(role)
            if group_id is not None:
                grants.per_group.setdefault(group_id, set()).update(actions)
            elif market_id is None:
                grants.everywhere |= actions
            else:
                grants.per_market.setdefault(market_id, set()).update(actions)
        if grants.per_group:
            # One more query, only for users with roles granted on groups.
            from markets.models import GroupMember

            links = GroupMember.objects.filter(group_id__in=list(grants.per_group)).values_list(
                "group_id", "market_id"
            )
            for group_id, market_id in links:
                grants.per_market.setdefault(market_id, set()).update(grants.per_group[group_id])
    if user is not None:
        setattr(user, _CACHE_ATTR, grants)
    return grants


def forget_grants(user: Any) -> None:
    """Drop the cached grants (after memberships change)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def can(user: Any, action: Action, market: Market | None = None) -> bool:
    """Return whether `user` may do `action` (in `market`, for market-scoped actions).

    Nobody may change anything in an inactive market (MARKET_WRITE_ACTIONS), admins included.
    """
    if market is not None and action in MARKET_WRITE_ACTIONS and not market.active:
        return False
    return grants_for(user).allows(action, market.pk if market is not None else None)


def require(user: Any, action: Action, market: Market | None = None) -> None:
    """Raise AccessDenied unless `user` may do `action` (in `market`).

    Raises MarketInactive (an AccessDenied that says so) when the user's role would allow a
    change but the market is inactive.
    """
    if can(user, action, market):
        return
    if market is not None and grants_for(user).allows(action, market.pk):
        raise MarketInactive(action, market.code)
    raise AccessDenied(action, market.code if market is not None else None)


def group_member_ids(group: MarketGroup) -> list[int]:
    """The group's member market ids (uses `member_links` when prefetched)."""
    return [link.market_id for link in group.member_links.all()]


def can_in_group(user: Any, action: Action, group: MarketGroup) -> bool:
    """Return whether `user` may do `action` in `group`: granted everywhere, on the group, or in
    every member market."""
    return grants_for(user).allows_in_group(action, group.pk, group_member_ids(group))


def require_in_group(user: Any, action: Action, group: MarketGroup) -> None:
    """Raise AccessDenied unless `user` may do `action` in `group` (see can_in_group)."""
    if not can_in_group(user, action, group):
        raise AccessDenied(action, group_code=group.code)


def can_view_group(user: Any, group: MarketGroup) -> bool:
    """Return whether `user` sees `group`: admins, roles on the group, or viewers of any member."""
    grants = grants_for(user)
    if Action.VIEW_MARKET in grants.everywhere or Action.VIEW_MARKET in grants.per_group.get(group.pk, ()):
        return True
    return any(Action.VIEW_MARKET in grants.per_market.get(mid, ()) for mid in group_member_ids(group))


def markets_for(user: Any, action: Action = Action.VIEW_MARKET) -> QuerySet[Market]:
    """Return the markets in which `user` may do `action`, as a queryset."""
    from markets.models import Market

    grants = grants_for(user)
    markets = (
        Market.objects.all()
        if action in grants.everywhere
        else Market.objects.filter(pk__in=grants.market_ids(action))
    )
    # No change can be made in an inactive market, so it is no choice for one (see `can`).
    return markets.filter(active=True) if action in MARKET_WRITE_ACTIONS else markets


def has_role(user: Any, role: Role) -> bool:
    """Return whether `user` holds `role` anywhere (superusers count as admin)."""
    return role in grants_for(user).roles
