"""Reads for notifications: a user's own inbox and preferences, and the admins' webhook pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.access import grants_for, require
from accounts.roles import Role
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    EventKind,
    Preference,
    Receipt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.notifications.rules import WEBHOOK_ACTION, built_in, role_defaults_apply, visible


def inbox(*, user: Any, unread_only: bool = False, kind: str = "") -> QuerySet[Receipt]:
    """Return `user`'s own inbox, newest first (one query with the notification and its market):
    only what they may still see (a market or role lost since hides its notifications)."""
    receipts = (
        Receipt.objects.filter(user=user, in_inbox=True)
        .filter(visible(user, prefix="notification__"))
        .select_related("notification", "notification__market", "notification__partner")
    )
    if unread_only:
        receipts = receipts.filter(read_at__isnull=True)
    if kind:
        receipts = receipts.filter(notification__kind=kind)
    return receipts.order_by("-notification__created_at", "-id")


def receipt_get(*, user: Any, pk: int) -> Receipt:
    """Return one of `user`'s own receipts. Raises Receipt.DoesNotExist (also for anyone else's)."""
    return (
        Receipt.objects.select_related("notification")
        .filter(visible(user, prefix="notification__"))
        .get(pk=pk, user=user, in_inbox=True)
    )


def unread_count(*, user: Any) -> int:
    """Return how many of `user`'s inbox notifications are unread (one query)."""
    return (
        Receipt.objects.filter(user=user, in_inbox=True, read_at__isnull=True)
        .filter(visible(user, prefix="notification__"))
        .count()
    )


@dataclass(frozen=True)
class PreferenceRow:
    """One event kind's channels: on or off, and whether it is the user's own choice."""

    kind: str
    label: str
    channels: dict[str, bool]
    own: dict[str, bool]


def preferences_for(*, user: Any) -> list[PreferenceRow]:
    """Return `user`'s effective channel per event kind (own choice, else role default, else built-in)."""
    rows = Preference.objects.filter(user__isnull=True) | Preference.objects.filter(user=user)
    own: dict[tuple[str, str], bool] = {}
    by_role: dict[tuple[str, str, str], bool] = {}
    for user_id, role, kind, channel, enabled in rows.values_list(
        "user_id", "role", "kind", "channel", "enabled"
    ):
        if user_id is not None:
            own[(kind, channel)] = enabled
        else:
            by_role[(role, kind, channel)] = enabled
    roles = grants_for(user).roles
    result = []
    for kind in EventKind:
        channels: dict[str, bool] = {}
        for channel in Channel:
            if (kind, channel) in own:
                channels[channel] = own[(kind, channel)]
            elif not role_defaults_apply(kind):
                channels[channel] = built_in(kind, channel)
            else:
                said = [by_role[(r, kind, channel)] for r in roles if (r, kind, channel) in by_role]
                channels[channel] = any(said) if said else built_in(kind, channel)
        result.append(
            PreferenceRow(
                kind=kind.value,
                label=kind.label,
                channels=channels,
                own={c: v for (k, c), v in own.items() if k == kind},
            )
        )
    return result


def role_defaults(*, user: Any) -> dict[str, list[PreferenceRow]]:
    """Return each role's default channels per event kind. Raises AccessDenied (admins only)."""
    require(user, WEBHOOK_ACTION)
    stored = {
        (role, kind, channel): enabled
        for role, kind, channel, enabled in Preference.objects.filter(user__isnull=True).values_list(
            "role", "kind", "channel", "enabled"
        )
    }
    return {
        role.value: [
            PreferenceRow(
                kind=kind.value,
                label=kind.label,
                channels={c.value: stored.get((role, kind, c), built_in(kind, c)) for c in Channel},
                own={},
            )
            for kind in EventKind
            if role_defaults_apply(kind)  # opt-in kinds are each user's own choice
        ]
        for role in Role
    }


def webhook_endpoints(*, user: Any) -> QuerySet[WebhookEndpoint]:
    """Return every webhook endpoint with its markets. Raises AccessDenied (admins only)."""
    require(user, WEBHOOK_ACTION)
    return WebhookEndpoint.objects.prefetch_related("markets").order_by("name", "id")


def webhook_endpoint_get(*, user: Any, pk: int) -> WebhookEndpoint:
    """Return one endpoint. Raises AccessDenied, WebhookEndpoint.DoesNotExist."""
    require(user, WEBHOOK_ACTION)
    return WebhookEndpoint.objects.prefetch_related("markets").get(pk=pk)


def webhook_deliveries(*, user: Any, endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    """Return the endpoint's newest deliveries (its delivery log). Raises AccessDenied."""
    require(user, WEBHOOK_ACTION)
    return list(endpoint.deliveries.order_by("-created_at", "-id")[:limit])


def webhook_delivery_get(*, user: Any, pk: int) -> WebhookDelivery:
    """Return one delivery. Raises AccessDenied, WebhookDelivery.DoesNotExist."""
    require(user, WEBHOOK_ACTION)
    return WebhookDelivery.objects.select_related("endpoint").get(pk=pk)


def webhook_dead_count(*, user: Any) -> int:
    """Return how many deliveries are dead letters. Raises AccessDenied."""
    require(user, WEBHOOK_ACTION)
    return WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD).count()
