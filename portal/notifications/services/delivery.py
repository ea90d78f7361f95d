"""Sending what is due: emails, webhook attempts (with backoff and dead letters), digests."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from portal.backoff import backoff_delay
from portal.notifications.channels import email as email_channel
from portal.notifications.channels import webhook as webhook_channel
from portal.notifications.models import (
    DeliveryStatus,
    Receipt,
    WebhookDelivery,
)
from portal.notifications.rules import may_see

logger = logging.getLogger(__name__)


# --- delivery ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryReport:
    emails: int = 0
    email_failures: int = 0
    webhooks_delivered: int = 0
    webhooks_failed: int = 0
    webhooks_dead: int = 0


def _send_emails(now: datetime) -> tuple[int, int]:
    sent = failed = 0
    due = Receipt.objects.filter(email_due=True, emailed_at__isnull=True).select_related(
        "notification__market", "user"
    )
    users: dict[int, Any] = {}
    for receipt in list(due.order_by("id")[:500]):
        # One user object per user, so that their grants load once for all their receipts.
        receipt.user = users.setdefault(receipt.user_id, receipt.user)
        # Claim first: an overlapping run sees emailed_at set and skips the receipt.
        if not Receipt.objects.filter(pk=receipt.pk, emailed_at__isnull=True).update(emailed_at=now):
            continue
        if not _still_visible(receipt):
            continue  # lost the market or role since it was raised: claimed, never sent
        try:
            email_channel.email_one(to=receipt.user.email, notification=receipt.notification)
            sent += 1
        except Exception:  # the backend's errors vary (SMTP, SES): retried on the next run
            logger.exception(
                "Notification email to user %s failed; retried on the next run.", receipt.user_id
            )
            Receipt.objects.filter(pk=receipt.pk).update(emailed_at=None)
            failed += 1
    return sent, failed


def _still_visible(receipt: Receipt) -> bool:
    notification = receipt.notification
    return receipt.user.is_active and may_see(
        receipt.user, kind=notification.kind, market=notification.market
    )


def webhook_attempt(*, delivery: WebhookDelivery, now: datetime) -> bool:
    """Send one attempt of `delivery` and record it; return whether it was delivered."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    result = webhook_channel.send(
        url=endpoint.url,
        secret=endpoint.secret,
        body=body,
        headers={"Meridian-Event": delivery.event, "Meridian-Delivery": str(delivery.event_id)},
        timeout=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT,
    )
    delivery.attempts += 1
    delivery.last_status_code = result.status
    delivery.last_error = result.error
    delivery.log = [*delivery.log, {"at": now.isoformat(), "status": result.status, "error": result.error}][
        -20:
    ]
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.DEAD
        delivery.next_attempt_at = None
    else:
        wait = backoff_delay(
            delivery.attempts,
            base=settings.NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS,
            cap=settings.NOTIFICATIONS_WEBHOOK_RETRY_CAP_SECONDS,
        )
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "log",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return result.ok


def _send_webhooks(now: datetime) -> tuple[int, int, int]:
    delivered = failed = dead = 0
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    lease = now + timedelta(seconds=2 * settings.NOTIFICATIONS_WEBHOOK_TIMEOUT + 60)
    for delivery in list(due.select_related("endpoint").order_by("next_attempt_at", "id")[:200]):
        # Claim by moving the due time past this attempt: an overlapping run no longer finds it due.
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=lease)
        if not claimed:
            continue
        if webhook_attempt(delivery=delivery, now=now):
            delivered += 1
        elif delivery.status == DeliveryStatus.DEAD:
            dead += 1
        else:
            failed += 1
    return delivered, failed, dead


def notifications_deliver(*, now: datetime | None = None) -> DeliveryReport:
    """Send the emails and webhook attempts that are due; return what happened."""
    now = now or timezone.now()
    emails, email_failures = _send_emails(now)
    delivered, failed, dead = _send_webhooks(now)
    return DeliveryReport(emails, email_failures, delivered, failed, dead)


def deliver_task() -> None:
    """The background task `notifications.deliver` (registered in PortalConfig.ready)."""
    notifications_deliver()


def notifications_digest(*, now: datetime | None = None) -> int:
    """Email each user one digest of their notifications not digested yet; return digests sent."""
    now = now or timezone.now()
    due = Receipt.objects.filter(digest_due=True, digested_at__isnull=True)
    sent = 0
    for user_id in sorted(set(due.values_list("user_id", flat=True))):
        receipts = list(
            due.filter(user_id=user_id).select_related("notification__market", "user").order_by("id")
        )
        ids = [r.pk for r in receipts]
        if Receipt.objects.filter(pk__in=ids, digested_at__isnull=True).update(digested_at=now) != len(ids):
            Receipt.objects.filter(pk__in=ids, digested_at=now).update(digested_at=None)
            continue  # another run is digesting this user right now
        for receipt in receipts[1:]:
            receipt.user = receipts[0].user  # one user object: their grants load once
        shown = [r.notification for r in receipts if _still_visible(r)]
        if not shown:
            continue  # claimed, nothing the user may still see
        try:
            email_channel.email_digest(to=receipts[0].user.email, notifications=shown)
            sent += 1
        except Exception:  # retried with the next digest
            logger.exception("Digest email to user %s failed; retried on the next run.", user_id)
            Receipt.objects.filter(pk__in=ids).update(digested_at=None)
    return sent
