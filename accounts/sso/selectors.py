"""Reads for single sign-on: group mappings, what groups grant, and the login page's options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.access import Action, require
from accounts.models import User
from accounts.sso.models import SsoGroupMapping
from markets.models import Market


def sso_mapping_list(*, user: User) -> QuerySet[SsoGroupMapping]:
    """Return every group mapping, by group name. Raises AccessDenied unless `user` manages users."""
    require(user, Action.MANAGE_USERS)
    return SsoGroupMapping.objects.select_related("market").order_by("group_name", "role", "market__code")


def sso_mapping_get(*, user: User, pk: int) -> SsoGroupMapping:
    """Return one group mapping.

    Raises AccessDenied unless `user` manages users; SsoGroupMapping.DoesNotExist when missing.
    """
    return sso_mapping_list(user=user).get(pk=pk)


def grants_for_groups(groups: list[str]) -> dict[tuple[str, int | None], Market | None]:
    """Return the (role, market id) pairs the provider `groups` grant, with each market."""
    mappings = SsoGroupMapping.objects.select_related("market").filter(group_name__in=groups)
    return {(m.role, m.market_id): m.market for m in mappings}


@dataclass(frozen=True)
class LoginOptions:
    """What the login page offers: single sign-on (and its label), the local password form."""

    sso: bool
    provider_name: str
    local: bool
    local_break_glass_only: bool


def login_options(*, show_local: bool = False) -> LoginOptions:
    """Return the login page's options; with local logins off the form shows only on request."""
    local_enabled = bool(settings.LOCAL_LOGIN_ENABLED)
    return LoginOptions(
        sso=bool(settings.OIDC_ENABLED),
        provider_name=str(settings.OIDC_PROVIDER_NAME),
        local=local_enabled or show_local or not settings.OIDC_ENABLED,
        local_break_glass_only=not local_enabled,
    )


def local_login_allowed(*, username: Any) -> bool:
    """Return whether `username` may log in with a password (break-glass admins when local is off)."""
    if settings.LOCAL_LOGIN_ENABLED:
        return True
    return str(username or "") in settings.LOCAL_LOGIN_BREAK_GLASS_USERS
