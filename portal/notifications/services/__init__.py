"""Writes for notifications: raising detected events, delivering them, and users' and admins' settings.

Detection and delivery are separate steps so that either may run again at any time:
`notifications_detect` stores each occurrence once (its `occurrence_key` is unique) with a receipt
per recipient and a delivery per matching webhook endpoint, all in one transaction; then
`notifications_deliver` sends what is due (emails, webhook attempts), claiming each row first so
two overlapping runs never send the same thing twice.
"""

from portal.notifications.services.delivery import (
    DeliveryReport,
    deliver_task,
    notifications_deliver,
    notifications_digest,
    webhook_attempt,
)
from portal.notifications.services.detection import notifications_detect
from portal.notifications.services.inbox import receipts_mark_read
from portal.notifications.services.preferences import PreferenceBook, preferences_set, role_defaults_set
from portal.notifications.services.raising import notification_emit, notifications_raise
from portal.notifications.services.retention import Pruned, notifications_prune
from portal.notifications.services.webhooks import (
    TEST_EVENT,
    WebhookRefused,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_send_test,
)

__all__ = [
    "TEST_EVENT",
    "DeliveryReport",
    "PreferenceBook",
    "Pruned",
    "WebhookRefused",
    "deliver_task",
    "notification_emit",
    "notifications_deliver",
    "notifications_detect",
    "notifications_prune",
    "notifications_raise",
    "notifications_digest",
    "preferences_set",
    "receipts_mark_read",
    "role_defaults_set",
    "webhook_attempt",
    "webhook_delivery_retry",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_send_test",
]
