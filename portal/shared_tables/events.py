"""Zappa scheduled events for the shared tables (see docs/shared-tables.md, "Running it").

    "events": [
      {"function": "portal.shared_tables.events.sweep", "expression": "rate(1 minute)"},
      {"function": "portal.shared_tables.events.nightly", "expression": "cron(15 3 * * ? *)"}
    ]

Keep them in one region's stage only: the tables are global to a deployment, and two sweeps
are harmless but wasteful.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Seconds left unused at the end of a Lambda invocation, so a sweep never hits the timeout
# halfway through marking rows.
_SAFETY_SECONDS = 10.0
_DEFAULT_BUDGET_SECONDS = 50.0


def _budget(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return _DEFAULT_BUDGET_SECONDS
    return max(1.0, min(_DEFAULT_BUDGET_SECONDS, float(remaining()) / 1000 - _SAFETY_SECONDS))


def sweep(event: Any = None, context: Any = None) -> dict[str, Any]:
    """Publish whatever the on-commit publishing missed (every minute)."""
    from portal.shared_tables.publisher import drain

    return drain(time_budget=_budget(context)).as_dict()


def nightly(event: Any = None, context: Any = None) -> dict[str, Any]:
    """Reconcile every table with the database and repair drift; prune old published outbox rows."""
    from portal.shared_tables.reconcile import reconcile
    from portal.shared_tables.services import outbox_prune

    report = reconcile(repair=True)
    pruned = outbox_prune(older_than_days=int(getattr(settings, "SHARED_TABLES_OUTBOX_KEEP_DAYS", 30)))
    return {"clean": report.clean, "report": list(report.lines()), "pruned": pruned}
