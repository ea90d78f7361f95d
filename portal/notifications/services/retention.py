"""Retention: old notifications, their receipts and finished webhook deliveries are deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.notifications.checks import DETECTORS
from portal.notifications.models import DeliveryStatus, Notification, WebhookDelivery


@dataclass(frozen=True)
class Pruned:
    notifications: int
    receipts: int
    deliveries: int


def notifications_prune(*, now: datetime | None = None) -> Pruned:
    """Delete what is older than NOTIFICATIONS_RETENTION_DAYS: finished webhook deliveries (delivered
    or dead, test events too), and notifications with their receipts, read or not.

    Kept however old: a notification a pending delivery still carries, and one whose occurrence a
    detector still finds (a quota still above its threshold this period, a dead letter still dead),
    since its stored key is what stops the same occurrence from being raised again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    still_found = {occurrence.key for detector in DETECTORS for occurrence in detector(now)}
    with transaction.atomic():
        deliveries, _ = (
            WebhookDelivery.objects.filter(created_at__lt=cutoff)
            .exclude(status=DeliveryStatus.PENDING)
            .delete()
        )
        old = (
            Notification.objects.filter(created_at__lt=cutoff)
            .exclude(occurrence_key__in=still_found)
            .exclude(webhookdelivery__status=DeliveryStatus.PENDING)
        )
        _, by_model = Notification.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
    return Pruned(
        notifications=by_model.get("portal.Notification", 0),
        receipts=by_model.get("portal.Receipt", 0),
        deliveries=deliveries + by_model.get("portal.WebhookDelivery", 0),
    )
