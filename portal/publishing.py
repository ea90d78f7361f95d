"""The hook between a committed change and the shared-tables publisher.

`portal.outbox` registers `request_publish` with `transaction.on_commit` whenever it writes
outbox rows. Publishing failures never reach the user: the rows are the durable record and
the scheduled sweep publishes whatever is left.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def request_publish() -> None:
    """Ask the publisher to drain the outbox now, if publishing on commit is enabled."""
    if not settings.SHARED_TABLES_PUBLISH_ON_COMMIT:
        return
    # Imported here: the publisher pulls in the items and backends, which a request that
    # changes nothing never needs.
    from portal.shared_tables import publisher

    try:
        publisher.publish_soon()
    except Exception:  # never fail the user's request; the scheduled sweep retries
        logger.exception("Publishing after commit failed; the sweep will retry.")
