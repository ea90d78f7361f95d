"""Retention: `manage.py notifications prune` (the daily scheduled job) deletes notifications,
receipts and finished webhook deliveries past NOTIFICATIONS_RETENTION_DAYS, and keeps what a
pending delivery or a detector still needs (so nothing is raised twice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from accounts.models import User
from markets.models import Market
from portal import scheduled
from portal.notifications.models import DeliveryStatus, Notification, Receipt, WebhookDelivery
from portal.notifications.services import notifications_detect, notifications_prune, webhook_endpoint_create
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.notifications.conftest import T0, Receiver

LATER = T0 + timedelta(days=91)


@pytest.fixture(autouse=True)
def retention(settings: Any) -> None:
    settings.NOTIFICATIONS_RETENTION_DAYS = 90


def age(model: Any, days: int) -> None:
    model.objects.update(created_at=T0 - timedelta(days=days))


def test_old_notifications_receipts_and_finished_deliveries_go_and_the_rest_stays(
    admin_user: User, au: Market, de: Market, receiver: Receiver
) -> None:
    # Given dead letters in AU and DE (one notification each, a receipt for the admin, a webhook
    # delivery each), raised 91 days before now
    hook, receiver.secret = webhook_endpoint_create(
        actor=admin_user, name="Ops", url=receiver.url, kinds=["publish_dead_letters"]
    )
    for code in ("AU", "DE"):
        OutboxEntry.objects.create(kind="market", key=code, version=1, status=OutboxStatus.DEAD)
    notifications_detect(now=T0)
    assert (Notification.objects.count(), Receipt.objects.count(), WebhookDelivery.objects.count()) == (
        2,
        2,
        2,
    )
    # The dead letters were retried and published since; AU's delivery is done, DE's still retrying
    OutboxEntry.objects.update(status=OutboxStatus.PUBLISHED)
    WebhookDelivery.objects.filter(payload__market="AU").update(status=DeliveryStatus.DELIVERED)
    au_notification = Notification.objects.get(market=au)
    de_notification = Notification.objects.get(market=de)
    age(Notification, 0)
    age(WebhookDelivery, 0)
    # When the prune runs 91 days later (twice)
    first = notifications_prune(now=LATER)
    assert notifications_prune(now=LATER) == type(first)(0, 0, 0)
    # Then AU's notification, its receipt and its finished delivery are gone; DE's stays with its
    # pending delivery (a retry still needs its payload)
    assert first == type(first)(notifications=1, receipts=1, deliveries=1)
    assert not Notification.objects.filter(pk=au_notification.pk).exists()
    assert list(WebhookDelivery.objects.values_list("notification_id", flat=True)) == [de_notification.pk]
    # And younger notifications stay whatever happens to them
    OutboxEntry.objects.create(kind="market", key="AU", version=2, status=OutboxStatus.DEAD)
    notifications_detect(now=LATER)
    OutboxEntry.objects.update(status=OutboxStatus.PUBLISHED)
    assert notifications_prune(now=LATER + timedelta(days=89)).notifications == 0


def test_an_occurrence_a_detector_still_finds_is_kept_so_it_is_not_raised_again(
    admin_user: User, au: Market
) -> None:
    # Given an AU dead letter that is still dead 91 days after it was told
    OutboxEntry.objects.create(kind="market", key="AU", version=1, status=OutboxStatus.DEAD)
    [told] = notifications_detect(now=T0)
    # When the prune runs, then the notification stays, and the next check raises nothing again
    assert notifications_prune(now=LATER).notifications == 0
    assert Notification.objects.filter(pk=told.pk).exists()
    assert notifications_detect(now=LATER) == []


def test_the_scheduled_job_prunes(admin_user: User, au: Market) -> None:
    OutboxEntry.objects.create(kind="market", key="AU", version=1, status=OutboxStatus.PUBLISHED)
    Notification.objects.create(kind="outbox_backlog", occurrence_key="outbox_backlog:1", title="old")
    age(Notification, 200)
    assert scheduled.notifications_prune({}, None) == (
        "Pruned 1 notification(s), 0 receipt(s), 0 webhook delivery(ies)."
    )
    assert not Notification.objects.exists()
