"""A user's own inbox: marking notifications read."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from accounts.models import User
from portal.notifications.models import (
    Receipt,
)


# --- the inbox ---------------------------------------------------------------------------------------------
def receipts_mark_read(*, user: User, receipt_ids: Iterable[int] | None = None) -> int:
    """Mark `user`'s receipts read (all unread ones when `receipt_ids` is None); return how many."""
    unread = Receipt.objects.filter(user=user, in_inbox=True, read_at__isnull=True)
    if receipt_ids is not None:
        unread = unread.filter(pk__in=list(receipt_ids))
    return unread.update(read_at=timezone.now())
