"""Drift between Meridian and the gateway: found, reported and, with --repair, mended."""

from __future__ import annotations

from accounts.partners.gateway import Gateway, GatewayError, get_gateway
from accounts.partners.gateway.base import Drift, KeySpec, PlanSpec
from accounts.partners.models import (
    PartnerApiKey,
    SyncState,
    UsagePlan,
)
from accounts.partners.services.base import ReconcileReport
from accounts.partners.services.sync import key_spec, key_sync, plan_spec, plan_sync


def _drifts(gateway: Gateway) -> list[Drift]:
    from accounts.partners.gateway.apigateway import plan_patch_operations

    plans = list(UsagePlan.objects.all())
    keys = list(PartnerApiKey.objects.select_related("plan", "partner"))
    inventory = gateway.inventory()
    drifts: list[Drift] = []
    if inventory is None:
        for plan in plans:
            if plan.sync_state != SyncState.SYNCED:
                drifts.append(Drift("plan", plan.pk, "", f"sync {plan.sync_state}"))
        for key in keys:
            if key.sync_state != SyncState.SYNCED:
                drifts.append(Drift("key", key.pk, "", f"sync {key.sync_state}"))
        return drifts
    known_plans = {p.gateway_id for p in plans if p.gateway_id}
    for plan in plans:
        if plan.deleted_at is not None:
            if plan.gateway_id in inventory.plans:
                drifts.append(
                    Drift("plan", plan.pk, plan.gateway_id, "deleted in Meridian, still on the gateway")
                )
        elif not plan.gateway_id or plan.gateway_id not in inventory.plans:
            drifts.append(Drift("plan", plan.pk, plan.gateway_id, "missing on the gateway"))
        else:
            ops = plan_patch_operations(dict(inventory.plans[plan.gateway_id]), plan_spec(plan))
            if ops:
                paths = ", ".join(sorted({op["path"] for op in ops}))
                drifts.append(Drift("plan", plan.pk, plan.gateway_id, f"differs at {paths}"))
    for gateway_id in sorted(set(inventory.plans) - known_plans):
        drifts.append(Drift("plan", None, gateway_id, "on the gateway, unknown to Meridian"))
    known_keys = {k.gateway_id for k in keys if k.gateway_id}
    for key in keys:
        if key.is_final:
            if key.gateway_id and key.gateway_id in inventory.keys:
                drifts.append(
                    Drift("key", key.pk, key.gateway_id, f"{key.status} in Meridian, still on the gateway")
                )
            continue
        if not key.gateway_id:
            drifts.append(
                Drift(
                    "key", key.pk, "", "never reached the gateway: retry it from the portal", repairable=False
                )
            )
            continue
        current = inventory.keys.get(key.gateway_id)
        if current is None:
            drifts.append(
                Drift(
                    "key",
                    key.pk,
                    key.gateway_id,
                    "deleted on the gateway: revoke it and issue a new key",
                    repairable=False,
                )
            )
            continue
        spec = key_spec(key)
        problems = []
        if bool(current.get("enabled")) != spec.enabled:
            problems.append("enabled" if current.get("enabled") else "disabled")
        if (current.get("name") or "") != spec.name:
            problems.append("name differs")
        if key.gateway_id not in inventory.plan_keys.get(key.plan.gateway_id, set()):
            problems.append("not on its plan")
        if problems:
            drifts.append(Drift("key", key.pk, key.gateway_id, "; ".join(problems)))
    for gateway_id in sorted(set(inventory.keys) - known_keys):
        drifts.append(Drift("key", None, gateway_id, "on the gateway, unknown to Meridian"))
    return drifts


def _orphan_plan(gateway_id: str) -> PlanSpec:
    return PlanSpec(
        pk=0,
        gateway_id=gateway_id,
        name="",
        description="",
        rate=0,
        burst=0,
        quota_limit=None,
        quota_period="",
        quota_offset=0,
        stages=(),
    )


def _orphan_key(gateway_id: str) -> KeySpec:
    return KeySpec(
        pk=0,
        gateway_id=gateway_id,
        name="",
        description="",
        enabled=False,
        present=False,
        plan_gateway_id="",
        plan_pk=0,
    )


def gateway_reconcile(*, repair: bool = False) -> ReconcileReport:
    """Compare Meridian's plans and keys with the gateway; with `repair`, make the gateway match
    (objects Meridian tagged but no longer knows are deleted). Raises GatewayError when the
    gateway cannot be listed."""
    gateway = get_gateway()
    report = ReconcileReport(drifts=_drifts(gateway))
    if not repair:
        return report
    for drift in report.drifts:
        if not drift.repairable:
            if drift.kind == "key" and drift.pk is not None:
                PartnerApiKey.objects.filter(pk=drift.pk).update(
                    sync_state=SyncState.FAILED, sync_error=drift.problem
                )
            continue
        state: str
        try:
            if drift.pk is None and drift.kind == "plan":
                gateway.plan_delete(_orphan_plan(drift.gateway_id))
                state = SyncState.SYNCED
            elif drift.pk is None:
                gateway.key_delete(_orphan_key(drift.gateway_id))
                state = SyncState.SYNCED
            elif drift.kind == "plan":
                state = plan_sync(plan_id=drift.pk)
            else:
                state = key_sync(key_id=drift.pk)
        except GatewayError as exc:
            report.failed.append((drift, str(exc)))
            continue
        if state == SyncState.SYNCED:
            report.repaired.append(drift)
        else:
            report.failed.append((drift, f"sync {state}"))
    # Objects whose last sync failed or never ran, though the gateway already matches them.
    handled = {(d.kind, d.pk) for d in report.drifts}
    for plan_id in UsagePlan.objects.exclude(sync_state=SyncState.SYNCED).values_list("pk", flat=True):
        if ("plan", plan_id) not in handled:
            plan_sync(plan_id=plan_id)
    for key_id in PartnerApiKey.objects.exclude(sync_state=SyncState.SYNCED).values_list("pk", flat=True):
        if ("key", key_id) not in handled:
            key_sync(key_id=key_id)
    return report
