"""Writes for notifications: raising detected events, delivering them, and users' and admins' settings.

Detection and delivery are separate steps so that either may run again at any time:
`notifications_detect` stores each occurrence once (its `occurrence_key` is unique) with a receipt
per recipient and a delivery per matching webhook endpoint, all in one transaction; then
`notifications_deliver` sends what is due (emails, webhook attempts), claiming each row first so
two overlapping runs never send the same thing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import grants_for, require
from accounts.models import User
from accounts.roles import Role
from markets.models import Market
from portal.audit.services import AuditRecord, audit_record
from portal.backoff import backoff_delay
from portal.notifications.channels import email as email_channel
from portal.notifications.channels import webhook as webhook_channel
from portal.notifications.checks import DETECTORS, Occurrence
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    EventKind,
    Notification,
    Preference,
    Receipt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.notifications.rules import BUILT_IN, WEBHOOK_ACTION, may_see
from portal.tasks import dispatch

logger = logging.getLogger(__name__)

TEST_EVENT = "test"


class WebhookRefused(ValueError):
    """The webhook's URL or kinds are not acceptable."""


# --- preferences ---------------------------------------------------------------------------------------
@dataclass
class PreferenceBook:
    """Every preference row, loaded once: users' own choices and the role defaults."""

    by_user: dict[tuple[int, str, str], bool]
    by_role: dict[tuple[str, str, str], bool]

    @classmethod
    def load(cls) -> PreferenceBook:
        by_user: dict[tuple[int, str, str], bool] = {}
        by_role: dict[tuple[str, str, str], bool] = {}
        for user_id, role, kind, channel, enabled in Preference.objects.values_list(
            "user_id", "role", "kind", "channel", "enabled"
        ):
            if user_id is not None:
                by_user[(user_id, kind, channel)] = enabled
            else:
                by_role[(role, kind, channel)] = enabled
        return cls(by_user, by_role)

    def role_default(self, roles: Iterable[str], kind: str, channel: str) -> bool:
        said = [self.by_role[(r, kind, channel)] for r in roles if (r, kind, channel) in self.by_role]
        return any(said) if said else BUILT_IN[channel]

    def enabled(self, user: Any, kind: str, channel: str) -> bool:
        own = self.by_user.get((user.pk, kind, channel))
        return own if own is not None else self.role_default(grants_for(user).roles, kind, channel)


def preferences_set(*, user: User, choices: Mapping[tuple[str, str], bool]) -> None:
    """Store `user`'s own channel choices per (kind, channel)."""
    with transaction.atomic():
        for (kind, channel), enabled in choices.items():
            Preference.objects.update_or_create(
                user=user,
                role="",
                kind=EventKind(kind),
                channel=Channel(channel),
                defaults={"enabled": enabled},
            )


def role_defaults_set(*, actor: User, role: str, choices: Mapping[tuple[str, str], bool]) -> None:
    """Store an admin's defaults for `role` per (kind, channel). Raises AccessDenied."""
    require(actor, WEBHOOK_ACTION)
    role = Role(role)
    with transaction.atomic():
        for (kind, channel), enabled in choices.items():
            Preference.objects.update_or_create(
                user=None,
                role=role,
                kind=EventKind(kind),
                channel=Channel(channel),
                defaults={"enabled": enabled},
            )
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="notification.defaults",
                object_type="role",
                object_id=role,
                object_repr=Role(role).label,
                after={f"{k}:{c}": v for (k, c), v in choices.items()},
            ),
        )


# --- detection -------------------------------------------------------------------------------------------
def _payload(notification: Notification, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "event": notification.kind,
        "occurrence": notification.occurrence_key,
        "severity": notification.severity,
        "title": notification.title,
        "body": notification.body,
        "url": email_channel.absolute(notification.link) or notification.link,
        "market": notification.market.code if notification.market else None,
        "partner": notification.partner.name if notification.partner else None,
        "created_at": notification.created_at.isoformat(),
        "data": notification.data,
    }


def _raise(
    occurrence: Occurrence, *, users: list[User], book: PreferenceBook, now: datetime
) -> Notification | None:
    if Notification.objects.filter(occurrence_key=occurrence.key).exists():
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                kind=occurrence.kind,
                occurrence_key=occurrence.key,
                severity=occurrence.severity,
                title=occurrence.title[:200],
                body=occurrence.body,
                link=occurrence.link,
                market_id=occurrence.market_id,
                partner_id=occurrence.partner_id,
                data=occurrence.data,
            )
            receipts = []
            for user in users:
                if not may_see(user, kind=occurrence.kind, market=notification.market):
                    continue
                inbox = book.enabled(user, occurrence.kind, Channel.INBOX)
                email = bool(user.email) and book.enabled(user, occurrence.kind, Channel.EMAIL)
                digest = bool(user.email) and book.enabled(user, occurrence.kind, Channel.DIGEST)
                if inbox or email or digest:
                    receipts.append(
                        Receipt(
                            notification=notification,
                            user=user,
                            in_inbox=inbox,
                            email_due=email,
                            digest_due=digest,
                        )
                    )
            Receipt.objects.bulk_create(receipts)
            endpoints = WebhookEndpoint.objects.filter(active=True).prefetch_related("markets")
            for endpoint in endpoints:
                market_ids = {m.pk for m in endpoint.markets.all()}
                if occurrence.kind not in endpoint.kinds:
                    continue
                if market_ids and occurrence.market_id is not None and occurrence.market_id not in market_ids:
                    continue
                delivery = WebhookDelivery(
                    endpoint=endpoint,
                    notification=notification,
                    event=occurrence.kind,
                    payload={},
                    next_attempt_at=now,
                )
                delivery.payload = _payload(notification, str(delivery.event_id))
                delivery.save()
    except IntegrityError:  # another run stored the same occurrence a moment ago
        return None
    return notification


def notifications_detect(*, now: datetime | None = None) -> list[Notification]:
    """Run every detector and store the occurrences not stored before; return the new notifications."""
    now = now or timezone.now()
    users = list(User.objects.filter(is_active=True).order_by("id"))
    book = PreferenceBook.load()
    created: list[Notification] = []
    for detector in DETECTORS:
        for occurrence in detector(now):
            notification = _raise(occurrence, users=users, book=book, now=now)
            if notification is not None:
                created.append(notification)
    if created:
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return created


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
        "notification", "user"
    )
    for receipt in list(due.order_by("id")[:500]):
        # Claim first: an overlapping run sees emailed_at set and skips the receipt.
        if not Receipt.objects.filter(pk=receipt.pk, emailed_at__isnull=True).update(emailed_at=now):
            continue
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
        receipts = list(due.filter(user_id=user_id).select_related("notification", "user").order_by("id"))
        ids = [r.pk for r in receipts]
        if Receipt.objects.filter(pk__in=ids, digested_at__isnull=True).update(digested_at=now) != len(ids):
            Receipt.objects.filter(pk__in=ids, digested_at=now).update(digested_at=None)
            continue  # another run is digesting this user right now
        try:
            email_channel.email_digest(
                to=receipts[0].user.email, notifications=[r.notification for r in receipts]
            )
            sent += 1
        except Exception:  # retried with the next digest
            logger.exception("Digest email to user %s failed; retried on the next run.", user_id)
            Receipt.objects.filter(pk__in=ids).update(digested_at=None)
    return sent


# --- the inbox ---------------------------------------------------------------------------------------------
def receipts_mark_read(*, user: User, receipt_ids: Iterable[int] | None = None) -> int:
    """Mark `user`'s receipts read (all unread ones when `receipt_ids` is None); return how many."""
    unread = Receipt.objects.filter(user=user, in_inbox=True, read_at__isnull=True)
    if receipt_ids is not None:
        unread = unread.filter(pk__in=list(receipt_ids))
    return unread.update(read_at=timezone.now())


# --- webhook endpoints -----------------------------------------------------------------------------------
def webhook_endpoint_create(
    *, actor: User, name: str, url: str, kinds: list[str], markets: Iterable[Market] = ()
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its secret (shown once). Raises AccessDenied, WebhookRefused."""
    require(actor, WEBHOOK_ACTION)
    try:
        webhook_channel.target_check(url)
    except webhook_channel.UnsafeWebhookUrl as exc:
        raise WebhookRefused(str(exc)) from None
    unknown = sorted(set(kinds) - set(EventKind.values))
    if unknown or not kinds:
        raise WebhookRefused(f"Choose at least one known event (unknown: {', '.join(unknown) or 'none'}).")
    secret = webhook_channel.secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            name=name, url=url, secret=secret, kinds=sorted(set(kinds)), created_by=actor
        )
        endpoint.markets.set(list(markets))
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="webhook.create",
                object_type="webhook",
                object_id=str(endpoint.pk),
                object_repr=name,
                after={
                    "url": url,
                    "kinds": endpoint.kinds,
                    "markets": [m.code for m in endpoint.markets.all()],
                },
            ),
        )
    return endpoint, secret


def webhook_endpoint_delete(*, actor: User, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its delivery log. Raises AccessDenied."""
    require(actor, WEBHOOK_ACTION)
    with transaction.atomic():
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="webhook.delete",
                object_type="webhook",
                object_id=str(endpoint.pk),
                object_repr=endpoint.name,
                before={"url": endpoint.url, "kinds": endpoint.kinds},
            ),
        )
        endpoint.delete()


def webhook_send_test(*, actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a test event to `endpoint` and send it in the background. Raises AccessDenied."""
    require(actor, WEBHOOK_ACTION)
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery(endpoint=endpoint, event=TEST_EVENT, payload={}, next_attempt_at=now)
        delivery.payload = {
            "id": str(delivery.event_id),
            "event": TEST_EVENT,
            "title": f"Test event for {endpoint.name}",
            "created_at": now.isoformat(),
            "sent_by": actor.get_username(),
        }
        delivery.save()
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return delivery


def webhook_delivery_retry(*, actor: User, delivery: WebhookDelivery) -> bool:
    """Queue a dead delivery again with fresh attempts; False if it is not dead. Raises AccessDenied."""
    require(actor, WEBHOOK_ACTION)
    with transaction.atomic():
        queued = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if queued:
            audit_record(
                actor=actor,
                record=AuditRecord(
                    action="webhook.retry",
                    object_type="webhook",
                    object_id=str(delivery.endpoint_id),
                    object_repr=f"delivery {delivery.event_id}",
                ),
            )
            transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return bool(queued)
