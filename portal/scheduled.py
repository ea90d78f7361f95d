"""Zappa's scheduled events (`events` in zappa_settings.json).

Each function runs the management command that a laptop or a test runs for the same job, so the
schedule adds no second code path. Zappa calls `function(event, context)`; the job's output goes
to the log (CloudWatch on Lambda) and is returned for Zappa's own log line.

The jobs are idempotent and order-proof (versioned writes, queued jobs with attempt budgets), so
an overlapping or repeated run is harmless: EventBridge fires every minute whether or not the
previous run has finished, and Lambda retries a failed asynchronous invocation twice.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from django.core.management import call_command

from portal.observability.logging import job_run

logger = logging.getLogger(__name__)

# The management command (and arguments) behind each scheduled function.
COMMANDS: dict[str, tuple[str, ...]] = {
    "shared_tables_sweep": ("shared_tables", "publish"),
    "shared_tables_reconcile": ("shared_tables", "reconcile", "--repair"),
    "gateway_usage_sync": ("gateway", "sync-usage"),
    "api_keys_expire": ("gateway", "expire-keys"),
    # Bounded (LABEL_SWEEP_LIMIT jobs) so one run finishes well inside the Lambda timeout.
    "labels_sweep": ("labels", "sweep"),
    # Observability (docs/observability.md): EMF figures, and the on-failure queue into the logs.
    "metrics_emit": ("metrics",),
    "async_failures_drain": ("async_failures", "drain"),
    # Notifications (docs/notifications.md): detect and deliver; the daily digest.
    "notifications_run": ("notifications", "run"),
    "notifications_digest": ("notifications", "digest"),
    "notifications_prune": ("notifications", "prune"),
    # Partner traffic from API Gateway's access logs, from where the last import stopped.
    "partner_traffic_import": ("partners_traffic", "import-due"),
    # Retention of partner traffic rollups (docs/partners.md, "Traffic"), primary region only.
    "partner_traffic_prune": ("partners_traffic", "prune"),
    # Leavers: SSO users the provider has not confirmed for 30 days lose access and their tokens.
    "sso_deactivate_stale": ("sso", "deactivate-stale", "--days", "30"),
    # Change requests (docs/change-requests.md): approved requests apply at their time, once.
    "change_requests_apply_due": ("change_requests", "apply-due"),
}


class ScheduledJobFailed(RuntimeError):
    """A scheduled job's management command raised."""


def _run(job: str) -> str:
    name, *args = COMMANDS[job]
    out = io.StringIO()
    started = time.perf_counter()
    try:
        with job_run(job):
            call_command(name, *args, stdout=out, stderr=out)
    except Exception as exc:
        # Zappa's run_function retries a TypeError with fewer arguments and then reports a bad
        # signature, hiding the real error; a wrapped error keeps the cause in the log.
        logger.exception("scheduled job %s failed after %.2fs", job, time.perf_counter() - started)
        raise ScheduledJobFailed(f"{job}: {' '.join(COMMANDS[job])} failed: {exc}") from exc
    output = out.getvalue().strip()
    logger.info("scheduled job %s done in %.2fs: %s", job, time.perf_counter() - started, output)
    return output


def shared_tables_sweep(event: dict[str, Any], context: Any) -> str:
    """Publish pending outbox rows to the shared tables (`manage.py shared_tables publish`)."""
    return _run("shared_tables_sweep")


def shared_tables_reconcile(event: dict[str, Any], context: Any) -> str:
    """Find and repair drift in the shared tables (`manage.py shared_tables reconcile --repair`)."""
    return _run("shared_tables_reconcile")


def gateway_usage_sync(event: dict[str, Any], context: Any) -> str:
    """Pull API Gateway usage into Meridian (`manage.py gateway sync-usage`)."""
    return _run("gateway_usage_sync")


def api_keys_expire(event: dict[str, Any], context: Any) -> str:
    """Disable partner keys whose grace period or expiry has passed (`manage.py gateway expire-keys`)."""
    return _run("api_keys_expire")


def labels_sweep(event: dict[str, Any], context: Any) -> str:
    """Requeue stuck jobs and label a bounded batch of due images (`manage.py labels sweep`)."""
    return _run("labels_sweep")


def metrics_emit(event: dict[str, Any], context: Any) -> str:
    """Emit outbox, publish and labelling figures as CloudWatch EMF metrics (`manage.py metrics`)."""
    return _run("metrics_emit")


def async_failures_drain(event: dict[str, Any], context: Any) -> str:
    """Log and count what the on-failure queue caught (`manage.py async_failures drain`)."""
    return _run("async_failures_drain")


def notifications_run(event: dict[str, Any], context: Any) -> str:
    """Detect notification events and deliver them (`manage.py notifications run`)."""
    return _run("notifications_run")


def notifications_digest(event: dict[str, Any], context: Any) -> str:
    """Email each user's daily notification digest (`manage.py notifications digest`)."""
    return _run("notifications_digest")


def notifications_prune(event: dict[str, Any], context: Any) -> str:
    """Delete notifications and webhook deliveries past retention (`manage.py notifications prune`)."""
    return _run("notifications_prune")


def partner_traffic_import(event: dict[str, Any], context: Any) -> str:
    """Import partner traffic from the access logs since the last import (`partners_traffic import-due`)."""
    return _run("partner_traffic_import")


def partner_traffic_prune(event: dict[str, Any], context: Any) -> str:
    """Apply partner traffic retention: minutes 14 days, hours 400 (`manage.py partners_traffic prune`)."""
    return _run("partner_traffic_prune")


def sso_deactivate_stale(event: dict[str, Any], context: Any) -> str:
    """Deactivate SSO users unconfirmed for 30 days (`manage.py sso deactivate-stale --days 30`)."""
    return _run("sso_deactivate_stale")


def change_requests_apply_due(event: dict[str, Any], context: Any) -> str:
    """Apply approved change requests whose time has come (`manage.py change_requests apply-due`)."""
    return _run("change_requests_apply_due")
