"""Storing detected occurrences once, with their receipts and webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from portal.notifications.channels import email as email_channel
from portal.notifications.checks import DETECTORS, Occurrence
from portal.notifications.models import (
    Channel,
    Notification,
    Receipt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.notifications.rules import may_see
from portal.notifications.services.preferences import PreferenceBook
from portal.tasks import dispatch


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


def notifications_detect(
    *, now: datetime | None = None, dispatch_delivery: bool = True
) -> list[Notification]:
    """Run every detector and store the occurrences not stored before; return the new notifications.

    New notifications dispatch `notifications.deliver` after the commit, unless the caller
    delivers itself (`dispatch_delivery=False`: `manage.py notifications run`).
    """
    now = now or timezone.now()
    users = list(User.objects.filter(is_active=True).order_by("id"))
    book = PreferenceBook.load()
    created: list[Notification] = []
    for detector in DETECTORS:
        for occurrence in detector(now):
            notification = _raise(occurrence, users=users, book=book, now=now)
            if notification is not None:
                created.append(notification)
    if created and dispatch_delivery:
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return created


def notification_emit(
    occurrence: Occurrence, *, users: list[User], now: datetime | None = None
) -> Notification | None:
    """Store one occurrence an area raises itself (not a detector) for `users`; None if stored before.

    Each user still gets it only if they may see its kind (in its market) and have a channel on;
    delivery is dispatched after the commit, as for detected events.
    """
    notification = _raise(occurrence, users=users, book=PreferenceBook.load(), now=now or timezone.now())
    if notification is not None:
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return notification
