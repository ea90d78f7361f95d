"""The hook between a committed change and the shared-tables publisher.

The outbox is drained by a publisher; until one is configured the rows simply wait (they are
the durable record), so a commit never fails because publishing is unavailable.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def request_publish() -> None:
    """Ask the publisher to drain the outbox now, if publishing on commit is enabled."""
    if not settings.SHARED_TABLES_PUBLISH_ON_COMMIT:
        return
    try:
        from portal.shared_tables import publisher
    except ImportError:  # the publisher is not part of this build yet: rows wait in the outbox
        return
    try:
        publisher.publish_soon()
    except Exception:  # never fail the user's request; the scheduled sweep retries
        logger.exception("Publishing after commit failed; the sweep will retry.")
