"""Writes for partners, usage plans and partner API keys, and their sync to the gateway.

Each change checks access first, then writes the row, its audit entry and a "sync pending" state
in one transaction; the gateway calls run after commit (`transaction.on_commit`), with retries and
backoff, and record "synced" or "failed" with the error. The pending state is the durable record
(the partner area's outbox): `manage.py gateway reconcile --repair` retries what is left.

A key's secret exists only in the `IssuedKey` a service returns and in the closure that creates
the key on the gateway right after commit; the database keeps its SHA-256 hash.
"""

from accounts.partners.services.base import (
    KEY_PREFIX,
    MAX_BURST,
    MAX_GRACE,
    MAX_KEYS_PER_REGION,
    MAX_QUOTA,
    MAX_RATE,
    MAX_TOP_UP,
    IssuedKey,
    PlanInput,
    ReconcileReport,
)
from accounts.partners.services.keys import (
    key_issue,
    key_resume,
    key_retry_sync,
    key_revoke,
    key_rotate,
    key_suspend,
    key_top_up,
    keys_expire,
    plan_retry_sync,
    top_up_retry_sync,
)
from accounts.partners.services.partners import partner_create, partner_update
from accounts.partners.services.plans import plan_create, plan_delete, plan_update
from accounts.partners.services.reconcile import gateway_reconcile
from accounts.partners.services.sync import key_spec, key_sync, plan_spec, plan_sync, top_up_sync
from accounts.partners.services.usage import usage_sync

__all__ = [
    "KEY_PREFIX",
    "MAX_BURST",
    "MAX_GRACE",
    "MAX_KEYS_PER_REGION",
    "MAX_QUOTA",
    "MAX_RATE",
    "MAX_TOP_UP",
    "IssuedKey",
    "PlanInput",
    "ReconcileReport",
    "gateway_reconcile",
    "key_issue",
    "key_resume",
    "key_retry_sync",
    "key_revoke",
    "key_rotate",
    "key_spec",
    "key_suspend",
    "key_sync",
    "key_top_up",
    "keys_expire",
    "partner_create",
    "partner_update",
    "plan_create",
    "plan_delete",
    "plan_retry_sync",
    "plan_spec",
    "plan_sync",
    "plan_update",
    "top_up_retry_sync",
    "top_up_sync",
    "usage_sync",
]
