"""Webhook endpoints: registering, removing, test events and retrying dead deliveries (admins)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.access import require
from accounts.models import User
from markets.models import Market
from portal.audit.services import AuditRecord, audit_record
from portal.notifications.channels import webhook as webhook_channel
from portal.notifications.kinds import webhook_kinds
from portal.notifications.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.notifications.rules import WEBHOOK_ACTION
from portal.tasks import dispatch

TEST_EVENT = "test"


class WebhookRefused(ValueError):
    """The webhook's URL or kinds are not acceptable."""


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
    unknown = sorted(set(kinds) - {value for value, _ in webhook_kinds()})
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
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="webhook.test",
                object_type="webhook",
                object_id=str(endpoint.pk),
                object_repr=endpoint.name,
            ),
        )
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
