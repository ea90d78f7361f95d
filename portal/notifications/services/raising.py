"""Storing an occurrence once, with its receipts and webhook deliveries: for the detectors' finds
and for events raised by other areas' services (`notifications_raise`).

Imports no detector (checks.py reads partners, content and labels), so any area's service may
import this module without depending on the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from portal.notifications.channels import email as email_channel
from portal.notifications.models import (
    Channel,
    Notification,
    Receipt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.notifications.occurrence import Occurrence
from portal.notifications.rules import may_see
from portal.notifications.services.preferences import PreferenceBook
from portal.tasks import dispatch


# --- raising -------------------------------------------------------------------------------------------
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


class _NobodyToTell(Exception):
    """Rolls back an addressed occurrence that none of its recipients receives."""


def raise_once(
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
            addressed = set(occurrence.recipients) if occurrence.recipients is not None else None
            for user in users:
                if addressed is not None and user.pk not in addressed:
                    continue
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
            delivered = False
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
                delivered = True
            if addressed is not None and not receipts and not delivered:
                # Nobody it is addressed to wants it (yet): store nothing, so that an author who
                # opts in before the occurrence passes still hears about it on the next run.
                raise _NobodyToTell
    except _NobodyToTell:
        return None
    except IntegrityError:  # another run stored the same occurrence a moment ago
        return None
    return notification


def notifications_raise(occurrence: Occurrence, *, now: datetime | None = None) -> Notification | None:
    """Store `occurrence` once, for everyone who may see it (or its addressed recipients who may),
    and send it in the background after the commit; return it, or None if it was raised before.

    For events that happen in a service (a change request submitted, approved...), called inside
    that service's transaction: the notification is stored only if the change is.
    """
    now = now or timezone.now()
    users = list(User.objects.filter(is_active=True).order_by("id"))
    if occurrence.recipients is not None:
        users = [user for user in users if user.pk in set(occurrence.recipients)]
    notification = raise_once(occurrence, users=users, book=PreferenceBook.load(), now=now)
    if notification is not None:
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return notification


def notification_emit(
    occurrence: Occurrence, *, users: Iterable[User], now: datetime | None = None
) -> Notification | None:
    """`notifications_raise` addressed to `users` (each still needs the kind's audience in the
    event's market); None if it was raised before or none of them receives it."""
    return notifications_raise(replace(occurrence, recipients=tuple(user.pk for user in users)), now=now)
