"""The portal app's models live with their areas; importing them here registers them with Django.

app_label stays `portal`, and so do the table names: moving a model between modules needs no migration.
"""

from portal.audit.models import AuditEntry
from portal.change_requests.models import Approval, ApprovalPolicy, ChangeOperation, ChangeRequest, Comment
from portal.idempotency import IdempotencyRecord
from portal.notifications.models import (
    Notification,
    Preference,
    Receipt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.schedule.models import CalendarFeedToken
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus

__all__ = [
    "Approval",
    "ApprovalPolicy",
    "ChangeOperation",
    "ChangeRequest",
    "Comment",
    "AuditEntry",
    "CalendarFeedToken",
    "IdempotencyRecord",
    "Notification",
    "Preference",
    "Receipt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "OutboxEntry",
    "OutboxKind",
    "OutboxStatus",
]
