"""The apigateway backend against a real moto server: plans, keys, plan keys, reconcile.

moto accepts what AWS refuses (unknown stages, YEAR periods) and keeps deleted keys listed in
their plans; these tests show that Meridian validates and cleans up itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.partners.models import Partner, PartnerApiKey, SyncState, UsagePlan
from accounts.partners.services import (
    gateway_reconcile,
    key_issue,
    key_resume,
    key_revoke,
    key_rotate,
    key_suspend,
    keys_expire,
    plan_create,
    plan_delete,
    plan_sync,
    plan_update,
)
from accounts.tokens import hash_secret
from tests.partners.conftest import plan_input


def count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record every call of `operation` the backend's boto3 client makes."""
    from accounts.partners.gateway import get_gateway

    seen: list[dict[str, Any]] = []
    backend: Any = get_gateway()
    backend.client.meta.events.register(
        f"provide-client-params.apigateway.{operation}", lambda params, **kw: seen.append(dict(params))
    )
    return seen


@pytest.fixture
def gw_plan(
    apigateway: dict[str, Any], admin_user: User, django_capture_on_commit_callbacks: Any
) -> UsagePlan:
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input(api_stages=[apigateway["stage"]]))
    plan.refresh_from_db()
    return plan


def plan_keys(apigateway: dict[str, Any], plan: UsagePlan) -> set[str]:
    items = apigateway["client"].get_usage_plan_keys(usagePlanId=plan.gateway_id)["items"]
    return {item["id"] for item in items}


def test_plan_create_on_the_gateway(apigateway: dict[str, Any], gw_plan: UsagePlan) -> None:
    # Then the plan is on API Gateway with its throttle, quota, stage and Meridian's tag
    assert gw_plan.sync_state == SyncState.SYNCED and gw_plan.gateway_id
    remote = apigateway["client"].get_usage_plan(usagePlanId=gw_plan.gateway_id)
    assert remote["name"] == "Partner Gold"
    assert remote["throttle"] == {"rateLimit": 50.0, "burstLimit": 500}
    assert remote["quota"] == {"limit": 20000, "period": "MONTH", "offset": 0}
    assert remote["apiStages"] == [{"apiId": apigateway["api_id"], "stage": "prod"}]
    assert remote["tags"] == {"meridian:plan": str(gw_plan.pk)}


def test_stages_are_checked_on_the_gateway_because_moto_would_accept_anything(
    apigateway: dict[str, Any], admin_user: User
) -> None:
    for stages, fragment in (
        ([f"{apigateway['api_id']}:staging"], "has no stage 'staging'"),
        (["abcdef1234:prod"], "no REST API 'abcdef1234'"),
    ):
        with pytest.raises(ValidationError) as caught:
            plan_create(actor=admin_user, data=plan_input(api_stages=stages))
        assert fragment in caught.value.message_dict["api_stages"][0]
    assert apigateway["client"].get_usage_plans()["items"] == []


def test_plan_update_is_one_batched_call(
    apigateway: dict[str, Any], gw_plan: UsagePlan, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    # When three settings change at once
    calls = count_calls(apigateway["client"], "UpdateUsagePlan")
    with django_capture_on_commit_callbacks(execute=True):
        plan_update(
            actor=admin_user,
            plan=gw_plan,
            data=plan_input(
                api_stages=[apigateway["stage"]], rate_limit=60, burst_limit=600, quota_limit=30_000
            ),
        )
    # Then the gateway got one update_usage_plan with three patch operations
    assert len(calls) == 1
    assert sorted(op["path"] for op in calls[0]["patchOperations"]) == [
        "/quota/limit",
        "/throttle/burstLimit",
        "/throttle/rateLimit",
    ]
    remote = apigateway["client"].get_usage_plan(usagePlanId=gw_plan.gateway_id)
    assert (remote["throttle"]["burstLimit"], int(remote["quota"]["limit"])) == (600, 30_000)


def test_a_create_that_was_never_recorded_is_found_again_not_duplicated(
    apigateway: dict[str, Any], gw_plan: UsagePlan
) -> None:
    # Given the plan exists on the gateway but Meridian lost its id (a crash before recording it)
    UsagePlan.objects.filter(pk=gw_plan.pk).update(gateway_id="", sync_state=SyncState.PENDING)
    # When it syncs again, then it adopts the tagged plan instead of creating a second one
    assert plan_sync(plan_id=gw_plan.pk) == SyncState.SYNCED
    assert len(apigateway["client"].get_usage_plans()["items"]) == 1
    assert UsagePlan.objects.get(pk=gw_plan.pk).gateway_id == gw_plan.gateway_id


def test_key_lifecycle_on_the_gateway(
    apigateway: dict[str, Any],
    gw_plan: UsagePlan,
    partner: Partner,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = apigateway["client"]
    creates = count_calls(client, "CreateApiKey")
    # When a key is issued
    with django_capture_on_commit_callbacks(execute=True):
        issued = key_issue(actor=admin_user, partner=partner, plan=gw_plan, name="Optus TV app")
    key = PartnerApiKey.objects.get(pk=issued.key.pk)
    # Then the gateway holds it enabled, with the secret as its value, on the plan
    assert key.sync_state == SyncState.SYNCED and key.gateway_id
    assert creates[0]["enabled"] is True
    remote = client.get_api_key(apiKey=key.gateway_id, includeValue=True)
    assert remote["enabled"] is True
    assert hash_secret(remote["value"]) == key.key_hash
    assert remote["name"].startswith(f"meridian-{key.pk}-Optus-")
    assert remote["tags"] == {"meridian:key": str(key.pk)}
    assert plan_keys(apigateway, gw_plan) == {key.gateway_id}

    # Suspend and resume flip `enabled`
    with django_capture_on_commit_callbacks(execute=True):
        key_suspend(actor=admin_user, key=key)
    assert client.get_api_key(apiKey=key.gateway_id)["enabled"] is False
    with django_capture_on_commit_callbacks(execute=True):
        key_resume(actor=admin_user, key=key)
    assert client.get_api_key(apiKey=key.gateway_id)["enabled"] is True

    # Revoke removes it from the plan first, then deletes it
    gateway_id = key.gateway_id
    with django_capture_on_commit_callbacks(execute=True):
        key_revoke(actor=admin_user, key=key)
    assert plan_keys(apigateway, gw_plan) == set()
    assert gateway_id not in {k["id"] for k in client.get_api_keys()["items"]}
    key.refresh_from_db()
    assert (key.sync_state, key.gateway_id) == (SyncState.SYNCED, "")


def test_rotation_and_expiry_on_the_gateway(
    apigateway: dict[str, Any],
    gw_plan: UsagePlan,
    partner: Partner,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
    time_machine: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto has no get_usage/update_usage: the carry-over is tested with the Stubber elsewhere
    from accounts.partners.gateway.apigateway import ApiGatewayBackend

    monkeypatch.setattr(ApiGatewayBackend, "remaining", lambda self, **kw: 123)
    monkeypatch.setattr(ApiGatewayBackend, "set_remaining", lambda self, **kw: None)
    with django_capture_on_commit_callbacks(execute=True):
        old = key_issue(actor=admin_user, partner=partner, plan=gw_plan, name="app").key
    with django_capture_on_commit_callbacks(execute=True):
        new = key_rotate(actor=admin_user, key=old, grace=timedelta(hours=24)).key
    old.refresh_from_db()
    new.refresh_from_db()
    assert plan_keys(apigateway, gw_plan) == {old.gateway_id, new.gateway_id}
    assert new.carry_over_pending is False
    # When the grace is over and the job runs, the old key leaves the plan and the gateway
    assert old.expires_at is not None
    time_machine.move_to(old.expires_at, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert keys_expire() == 1
    assert plan_keys(apigateway, gw_plan) == {new.gateway_id}


def test_plan_delete_removes_stages_then_the_plan(
    apigateway: dict[str, Any], gw_plan: UsagePlan, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    updates = count_calls(apigateway["client"], "UpdateUsagePlan")
    with django_capture_on_commit_callbacks(execute=True):
        plan_delete(actor=admin_user, plan=gw_plan)
    assert updates[0]["patchOperations"] == [
        {"op": "remove", "path": "/apiStages", "value": apigateway["stage"]}
    ]
    assert apigateway["client"].get_usage_plans()["items"] == []
    gw_plan.refresh_from_db()
    assert (gw_plan.sync_state, gw_plan.gateway_id) == (SyncState.SYNCED, "")


def test_reconcile_reports_and_repairs_drift(
    apigateway: dict[str, Any],
    gw_plan: UsagePlan,
    partner: Partner,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
    make_gateway_orphans: Callable[[], tuple[str, str]],
) -> None:
    client = apigateway["client"]
    with django_capture_on_commit_callbacks(execute=True):
        kept = key_issue(actor=admin_user, partner=partner, plan=gw_plan, name="kept").key
        lost = key_issue(actor=admin_user, partner=partner, plan=gw_plan, name="lost").key
    kept.refresh_from_db()
    lost.refresh_from_db()
    assert gateway_reconcile().drifts == []

    # Given someone changes things on the console: a burst, a disabled key, a key out of its plan,
    # a deleted key, and Meridian-tagged leftovers
    client.update_usage_plan(
        usagePlanId=gw_plan.gateway_id,
        patchOperations=[{"op": "replace", "path": "/throttle/burstLimit", "value": "9"}],
    )
    client.update_api_key(
        apiKey=kept.gateway_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )
    client.delete_usage_plan_key(usagePlanId=gw_plan.gateway_id, keyId=kept.gateway_id)
    client.delete_usage_plan_key(usagePlanId=gw_plan.gateway_id, keyId=lost.gateway_id)
    client.delete_api_key(apiKey=lost.gateway_id)
    orphan_plan, orphan_key = make_gateway_orphans()

    # When reconcile reports
    report = gateway_reconcile()
    problems = {(d.kind, d.pk, d.gateway_id): d.problem for d in report.drifts}
    assert problems == {
        ("plan", gw_plan.pk, gw_plan.gateway_id): "differs at /throttle/burstLimit",
        ("plan", None, orphan_plan): "on the gateway, unknown to Meridian",
        ("key", kept.pk, kept.gateway_id): "disabled; not on its plan",
        ("key", lost.pk, lost.gateway_id): "deleted on the gateway: revoke it and issue a new key",
        ("key", None, orphan_key): "on the gateway, unknown to Meridian",
    }

    # Then --repair fixes what it can and marks the lost key failed for a person to handle
    report = gateway_reconcile(repair=True)
    assert len(report.repaired) == 4 and report.failed == []
    remaining = gateway_reconcile().drifts
    assert [(d.kind, d.pk, d.repairable) for d in remaining] == [("key", lost.pk, False)]
    assert client.get_usage_plan(usagePlanId=gw_plan.gateway_id)["throttle"]["burstLimit"] == 500
    assert client.get_api_key(apiKey=kept.gateway_id)["enabled"] is True
    assert kept.gateway_id in plan_keys(apigateway, gw_plan)
    names = {p["name"] for p in client.get_usage_plans()["items"]}
    assert names == {"Partner Gold", "someone else's"}
    assert orphan_key not in {k["id"] for k in client.get_api_keys()["items"]}
    lost.refresh_from_db()
    assert lost.sync_state == SyncState.FAILED and "deleted on the gateway" in lost.sync_error


@pytest.fixture
def make_gateway_orphans(apigateway: dict[str, Any]) -> Callable[[], tuple[str, str]]:
    def make() -> tuple[str, str]:
        client = apigateway["client"]
        plan = client.create_usage_plan(name="left over", tags={"meridian:plan": "999"})["id"]
        key = client.create_api_key(name="meridian-999-x", enabled=True, tags={"meridian:key": "999"})["id"]
        # Not Meridian's: untagged objects are never touched
        client.create_usage_plan(name="someone else's")
        return plan, key

    return make


def test_command_reports_drift(
    apigateway: dict[str, Any], gw_plan: UsagePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    call_command("gateway", "reconcile")
    assert "No drift (apigateway)." in capsys.readouterr().out
    apigateway["client"].update_usage_plan(
        usagePlanId=gw_plan.gateway_id, patchOperations=[{"op": "replace", "path": "/name", "value": "x"}]
    )
    call_command("gateway", "reconcile")
    out = capsys.readouterr().out
    assert f"plan {gw_plan.pk} [{gw_plan.gateway_id}]: differs at /name" in out
    assert "Run with --repair" in out
    call_command("gateway", "reconcile", "--repair")
    assert "Repaired 1; failed 0." in capsys.readouterr().out
