"""Services: plans validated as AWS would, the key lifecycle, rotation, top-ups, expiry, sync state."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.access import AccessDenied
from accounts.models import User
from accounts.partners import enforcement
from accounts.partners.gateway import GatewayError, set_gateway
from accounts.partners.gateway.base import DayUsage, KeySpec, MethodThrottle, PlanSpec
from accounts.partners.gateway.local import LocalGateway
from accounts.partners.models import KeyStatus, Partner, PartnerApiKey, QuotaTopUp, SyncState, UsagePlan
from accounts.partners.services import (
    IssuedKey,
    gateway_reconcile,
    key_issue,
    key_resume,
    key_retry_sync,
    key_revoke,
    key_rotate,
    key_suspend,
    key_top_up,
    keys_expire,
    partner_create,
    partner_update,
    plan_create,
    plan_delete,
    plan_update,
    usage_sync,
)
from accounts.tokens import hash_secret
from portal.audit.models import AuditEntry
from tests.partners.conftest import T0, plan_input

DENIED_ROLES = ["editor", "au_editor", "au_manager", "reviewer", "nobody"]


class FlakyGateway(LocalGateway):
    """The local gateway, but named like a remote one and failing the first `failures` calls."""

    name = "flaky"

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.calls: list[tuple[str, Any]] = []
        self.secrets: list[str | None] = []

    def _maybe_fail(self, what: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise GatewayError(f"{what}: ServiceUnavailable", retryable=self.retryable)

    def plan_put(self, plan: PlanSpec) -> str:
        self.calls.append(("plan_put", plan.pk))
        self._maybe_fail("plan_put")
        return f"plan-{plan.pk}"

    def key_put(self, key: KeySpec, secret: str | None) -> str:
        self.calls.append(("key_put", key.pk))
        self._maybe_fail("key_put")
        if not key.gateway_id:
            self.secrets.append(secret)
            if secret is None:
                from accounts.partners.gateway.base import SecretUnavailable

                raise SecretUnavailable()
        return key.gateway_id or f"key-{key.pk}"


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


# --- access: every service refuses everyone but admins ---------------------------------------------
@pytest.mark.parametrize("role", DENIED_ROLES)
def test_every_service_refuses_non_admins(
    role: str,
    request: pytest.FixtureRequest,
    partner: Partner,
    plan: UsagePlan,
    issue: Callable[..., IssuedKey],
) -> None:
    # Given a non-admin and an existing key
    user: User = request.getfixturevalue(role)
    key = issue().key
    calls: list[Callable[[], Any]] = [
        lambda: partner_create(actor=user, name="Telstra"),
        lambda: partner_update(actor=user, partner=partner, notes="x"),
        lambda: plan_create(actor=user, data=plan_input(name="Silver")),
        lambda: plan_update(actor=user, plan=plan, data=plan_input(burst_limit=600)),
        lambda: plan_delete(actor=user, plan=plan),
        lambda: key_issue(actor=user, partner=partner, plan=plan, name="x"),
        lambda: key_suspend(actor=user, key=key),
        lambda: key_resume(actor=user, key=key),
        lambda: key_revoke(actor=user, key=key),
        lambda: key_rotate(actor=user, key=key, grace=timedelta(hours=1)),
        lambda: key_top_up(actor=user, key=key, amount=10, reason="x"),
        lambda: key_retry_sync(actor=user, key=key),
    ]
    # Then each is refused and nothing changes
    for call in calls:
        with pytest.raises(AccessDenied):
            call()
    assert PartnerApiKey.objects.count() == 1
    assert PartnerApiKey.objects.get().status == KeyStatus.ACTIVE
    assert Partner.objects.count() == 1


def test_admin_may_do_everything(
    admin_user: User, django_capture_on_commit_callbacks: Any, partner: Partner, plan: UsagePlan
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        issued = key_issue(actor=admin_user, partner=partner, plan=plan, name="app")
        key_suspend(actor=admin_user, key=issued.key)
        key_resume(actor=admin_user, key=issued.key)
        key_top_up(actor=admin_user, key=issued.key, amount=5, reason="test")
        key_rotate(actor=admin_user, key=issued.key, grace=timedelta(hours=1))
    assert PartnerApiKey.objects.count() == 2
    entry = audit("partner_key.issue")[0]
    assert entry.actor == admin_user and entry.object_type == "partner_api_key"


# --- plans -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"name": "  "}, "name", "Give the plan a name"),
        ({"rate_limit": 0}, "rate_limit", "above 0"),
        ({"rate_limit": -1}, "rate_limit", "above 0"),
        ({"rate_limit": 10_001}, "rate_limit", "at most"),
        ({"rate_limit": "0.0005"}, "rate_limit", "three decimal"),
        ({"rate_limit": "fast"}, "rate_limit", "requests per second"),
        ({"burst_limit": 0}, "burst_limit", "between 1 and 5000"),
        ({"burst_limit": 5001}, "burst_limit", "between 1 and 5000"),
        ({"quota_limit": 0}, "quota_limit", "between 1"),
        ({"quota_period": "YEAR"}, "quota_period", "DAY, WEEK or MONTH"),
        ({"quota_limit": None, "quota_period": "DAY"}, "quota_limit", "clear its period"),
        ({"quota_period": "DAY", "quota_offset": 1}, "quota_offset", "must be 0"),
        ({"quota_period": "WEEK", "quota_offset": 7}, "quota_offset", "0 (Sunday) to 6"),
        ({"quota_period": "MONTH", "quota_offset": 28}, "quota_offset", "27 (the 28th)"),
        ({"api_stages": []}, "api_stages", "at least one"),
        ({"api_stages": ["no-colon"]}, "api_stages", "is not apiId:stage"),
        ({"api_stages": ["meridian:local", "meridian:local"]}, "api_stages", "once"),
        ({"api_stages": ["abc123:prod"]}, "api_stages", "No stage 'abc123:prod'"),
        (
            {"method_throttles": [MethodThrottle(stage="x:y", path="/a/GET", rate=1, burst=1)]},
            "method_throttles",
            "not one of the plan's stages",
        ),
        (
            {"method_throttles": [MethodThrottle(stage="meridian:local", path="feed", rate=1, burst=1)]},
            "method_throttles",
            "/resource/METHOD",
        ),
        (
            {"method_throttles": [MethodThrottle(stage="meridian:local", path="/a/GET", rate=0, burst=1)]},
            "method_throttles",
            "rate must be above 0",
        ),
    ],
)
def test_plan_create_refuses_what_aws_would_refuse(
    overrides: dict[str, Any], field: str, fragment: str, admin_user: User
) -> None:
    # Given plan values AWS (but not moto) would refuse, when creating the plan
    with pytest.raises(ValidationError) as caught:
        plan_create(actor=admin_user, data=plan_input(**overrides))
    # Then the error names the field and says why, and nothing is stored
    assert field in caught.value.message_dict
    assert any(fragment in m for m in caught.value.message_dict[field]), caught.value.message_dict
    assert not UsagePlan.objects.exists()


def test_plan_names_are_unique_among_live_plans(plan: UsagePlan, admin_user: User) -> None:
    with pytest.raises(ValidationError) as caught:
        plan_create(actor=admin_user, data=plan_input(name="partner gold"))
    assert "already a plan" in caught.value.message_dict["name"][0]


def test_plan_create_audits_and_syncs(admin_user: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input(rate_limit="0.5", burst_limit=1))
    plan.refresh_from_db()
    assert plan.rate_limit == Decimal("0.5")
    assert plan.sync_state == SyncState.SYNCED
    entry = audit("usage_plan.create")[0]
    assert entry.after is not None and entry.after["rate_limit"] == "0.500"
    assert entry.after["api_stages"] == ["meridian:local"]


def test_plan_update_records_before_and_after_and_is_a_no_op_when_unchanged(
    plan: UsagePlan, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        plan_update(actor=admin_user, plan=plan, data=plan_input(burst_limit=600, quota_limit=25_000))
    entry = audit("usage_plan.update")[0]
    assert entry.before is not None and entry.after is not None
    assert (entry.before["burst_limit"], entry.after["burst_limit"]) == (500, 600)
    assert (entry.before["quota_limit"], entry.after["quota_limit"]) == (20_000, 25_000)
    plan_update(actor=admin_user, plan=plan, data=plan_input(burst_limit=600, quota_limit=25_000))
    assert len(audit("usage_plan.update")) == 1


def test_plan_update_reaches_enforcement_at_once(
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    admin_user: User,
    settings: Any,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a cached key policy on a 2-per-day plan
    settings.PARTNER_KEY_CACHE_SECONDS = 300
    plan = make_plan(name="Tiny", rate_limit=10, burst_limit=10, quota_limit=2, quota_period="DAY")
    secret = issue(plan=plan).secret
    time_machine.move_to(T0, tick=False)
    client = Client()
    assert [client.get("/partners/probe/", headers={"x-api-key": secret}).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    # When the admin raises the quota
    with django_capture_on_commit_callbacks(execute=True):
        plan_update(
            actor=admin_user,
            plan=plan,
            data=plan_input(name="Tiny", rate_limit=10, burst_limit=10, quota_limit=3, quota_period="DAY"),
        )
    # Then this process's cached policy is dropped and the next request passes
    assert client.get("/partners/probe/", headers={"x-api-key": secret}).status_code == 200


def test_plan_delete_is_refused_while_keys_use_it(
    plan: UsagePlan,
    issue: Callable[..., IssuedKey],
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    issued = issue()
    with pytest.raises(ValidationError) as caught:
        plan_delete(actor=admin_user, plan=plan)
    assert "1 active or suspended key" in caught.value.messages[0]
    key_revoke(actor=admin_user, key=issued.key)
    with django_capture_on_commit_callbacks(execute=True):
        plan_delete(actor=admin_user, plan=plan)
    plan.refresh_from_db()
    assert plan.deleted_at is not None and plan.sync_state == SyncState.SYNCED
    assert audit("usage_plan.delete")[0].before is not None
    # And a new plan may take the deleted plan's name
    plan_create(actor=admin_user, data=plan_input())


# --- keys ------------------------------------------------------------------------------------------
def test_issue_returns_a_long_url_safe_secret_and_stores_only_its_hash(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    issued = issue()
    key = issued.key
    assert len(issued.secret) >= 40
    assert re.fullmatch(r"[A-Za-z0-9_-]+", issued.secret)
    assert key.key_hash == hash_secret(issued.secret)
    assert issued.secret.startswith(key.prefix) and issued.secret.endswith(key.last_four)
    assert key.display == f"{issued.secret[:10]}…{issued.secret[-4:]}"
    assert issued.secret not in repr(issued)
    assert key.sync_state == SyncState.SYNCED


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("empty name", "name"),
        ("inactive partner", "partner"),
        ("deleted plan", "plan"),
        ("past expiry", "expires_at"),
    ],
)
def test_issue_refuses_bad_input(
    case: str, field: str, partner: Partner, plan: UsagePlan, admin_user: User
) -> None:
    kwargs: dict[str, Any] = {"partner": partner, "plan": plan, "name": "app"}
    if case == "empty name":
        kwargs["name"] = " "
    elif case == "inactive partner":
        partner_update(actor=admin_user, partner=partner, active=False)
    elif case == "deleted plan":
        UsagePlan.objects.filter(pk=plan.pk).update(deleted_at=T0)
        plan.refresh_from_db()
    else:
        kwargs["expires_at"] = datetime(2020, 1, 1, tzinfo=T0.tzinfo)
    with pytest.raises(ValidationError) as caught:
        key_issue(actor=admin_user, **kwargs)
    assert field in caught.value.message_dict
    assert not PartnerApiKey.objects.exists()


def test_suspend_resume_revoke_and_revoke_is_final(issue: Callable[..., IssuedKey], admin_user: User) -> None:
    key = issue().key
    assert key_suspend(actor=admin_user, key=key).status == KeyStatus.SUSPENDED
    assert key_resume(actor=admin_user, key=key).status == KeyStatus.ACTIVE
    assert key_revoke(actor=admin_user, key=key).status == KeyStatus.REVOKED
    # Revoking twice is harmless; nothing brings a revoked key back
    assert key_revoke(actor=admin_user, key=key).status == KeyStatus.REVOKED
    with pytest.raises(ValidationError):
        key_resume(actor=admin_user, key=key)
    with pytest.raises(ValidationError):
        key_suspend(actor=admin_user, key=key)
    with pytest.raises(ValidationError):
        key_rotate(actor=admin_user, key=key, grace=timedelta(0))
    assert [e.action for e in AuditEntry.objects.filter(object_type="partner_api_key").order_by("id")] == [
        "partner_key.issue",
        "partner_key.suspended",
        "partner_key.resumed",
        "partner_key.revoked",
    ]


def test_rotation_carries_the_remaining_quota_and_keeps_the_old_key_for_the_grace(
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    admin_user: User,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a key that used 30 of its 100 requests this month
    plan = make_plan(name="Hundred", rate_limit=100, burst_limit=100, quota_limit=100, quota_period="MONTH")
    time_machine.move_to(T0, tick=False)
    old = issue(plan=plan)
    client = Client()
    for _ in range(30):
        assert client.get("/partners/probe/", headers={"x-api-key": old.secret}).status_code == 200

    # When it is rotated with a 24 h grace
    with django_capture_on_commit_callbacks(execute=True):
        new = key_rotate(actor=admin_user, key=old.key, grace=timedelta(hours=24))
    new.key.refresh_from_db()
    old.key.refresh_from_db()

    # Then the new key is on the same plan and has 70 requests left; the old one works for 24 h
    assert (new.key.plan_id, new.key.partner_id, new.key.replaces_id) == (
        plan.pk,
        old.key.partner_id,
        old.key.pk,
    )
    assert new.key.carry_over_pending is False
    assert old.key.expires_at == T0 + timedelta(hours=24)
    answers = [
        client.get("/partners/probe/", headers={"x-api-key": new.secret}).status_code for _ in range(71)
    ]
    assert answers == [200] * 70 + [429]
    assert client.get("/partners/probe/", headers={"x-api-key": old.secret}).status_code == 200
    time_machine.move_to(T0 + timedelta(hours=24), tick=False)
    assert client.get("/partners/probe/", headers={"x-api-key": old.secret}).status_code == 403
    assert keys_expire() == 1
    old.key.refresh_from_db()
    assert old.key.status == KeyStatus.EXPIRED
    rotate_entry = audit("partner_key.rotate")[0]
    assert rotate_entry.after is not None and rotate_entry.after["grace_seconds"] == 86400
    with pytest.raises(ValidationError):
        key_rotate(actor=admin_user, key=old.key, grace=timedelta(hours=1))


def test_rotation_without_grace_stops_the_old_key_now_and_twice_is_refused(
    issue: Callable[..., IssuedKey], admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    old = issue()
    with django_capture_on_commit_callbacks(execute=True):
        key_rotate(actor=admin_user, key=old.key, grace=timedelta(0))
    old.key.refresh_from_db()
    assert old.key.status == KeyStatus.EXPIRED
    assert Client().get("/partners/probe/", headers={"x-api-key": old.secret}).status_code == 403
    with pytest.raises(ValidationError) as twice:
        key_rotate(actor=admin_user, key=old.key, grace=timedelta(0))
    assert twice.value.message_dict["status"] == ["An expired key cannot be rotated."]
    fresh = issue(name="second")
    with pytest.raises(ValidationError) as caught:
        key_rotate(actor=admin_user, key=fresh.key, grace=timedelta(days=31))
    assert "grace" in caught.value.message_dict


def test_expire_job_expires_due_keys_once_and_audits_them(
    issue: Callable[..., IssuedKey], time_machine: Any, django_capture_on_commit_callbacks: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    due = issue(name="due", expires_at=T0 + timedelta(minutes=5)).key
    later = issue(name="later", expires_at=T0 + timedelta(days=5)).key
    forever = issue(name="forever").key
    time_machine.move_to(T0 + timedelta(minutes=5), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert keys_expire() == 1
    assert keys_expire() == 0
    statuses = dict(PartnerApiKey.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "expired", later.pk: "active", forever.pk: "active"}
    entry = audit("partner_key.expire")[0]
    assert (entry.actor_name, entry.via, entry.object_id) == ("system", "command", str(due.pk))
    assert PartnerApiKey.objects.get(pk=due.pk).sync_state == SyncState.SYNCED


@pytest.mark.parametrize(
    ("amount", "reason", "field"), [(0, "x", "amount"), (-5, "x", "amount"), (10, "  ", "reason")]
)
def test_top_up_refuses_bad_input(
    amount: int, reason: str, field: str, issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    with pytest.raises(ValidationError) as caught:
        key_top_up(actor=admin_user, key=issue().key, amount=amount, reason=reason)
    assert field in caught.value.message_dict
    assert not QuotaTopUp.objects.exists()


def test_top_up_needs_a_quota(
    make_plan: Callable[..., UsagePlan], issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    plan = make_plan(name="Unlimited", quota_limit=None, quota_period="")
    with pytest.raises(ValidationError) as caught:
        key_top_up(actor=admin_user, key=issue(plan=plan).key, amount=10, reason="x")
    assert "no quota" in caught.value.message_dict["amount"][0]


def test_top_up_is_recorded_with_its_reason_and_period(
    issue: Callable[..., IssuedKey],
    admin_user: User,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    time_machine.move_to(T0, tick=False)
    key = issue().key
    with django_capture_on_commit_callbacks(execute=True):
        top_up = key_top_up(actor=admin_user, key=key, amount=5000, reason="80 % passed, agreed with Optus")
    top_up.refresh_from_db()
    assert top_up.period_start == datetime(2026, 3, 1, tzinfo=T0.tzinfo)
    assert top_up.sync_state == SyncState.SYNCED
    entry = audit("partner_key.top_up")[0]
    assert entry.after is not None and entry.after["amount"] == 5000
    assert entry.after["reason"] == "80 % passed, agreed with Optus"
    # The key's remaining quota for March grew by 5,000
    assert enforcement.get_limiter().period_used(key.pk, "MONTH", 0, T0) == -5000


# --- gateway sync: retries, failures, re-issue ------------------------------------------------------
def test_a_transient_gateway_failure_is_recorded_once_then_retried_from_the_database(
    partner: Partner, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a gateway that fails once more after botocore's own retries
    gateway = FlakyGateway(failures=1)
    set_gateway(gateway)
    # When a plan is created, then the sync calls once (no loop of ours on top) and records "failed"
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input())
    plan.refresh_from_db()
    assert gateway.calls.count(("plan_put", plan.pk)) == 1
    assert plan.sync_state == SyncState.FAILED
    assert "ServiceUnavailable" in plan.sync_error
    # When the recorded failure is retried (reconcile --repair, or the retry button)
    gateway_reconcile(repair=True)
    # Then it reaches the gateway
    plan.refresh_from_db()
    assert gateway.calls.count(("plan_put", plan.pk)) == 2
    assert (plan.sync_state, plan.gateway_id, plan.sync_error) == (SyncState.SYNCED, f"plan-{plan.pk}", "")


def test_a_lasting_failure_is_recorded_and_the_retry_re_issues_a_key_that_never_arrived(
    partner: Partner, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a gateway that is down for longer than the retries
    gateway = FlakyGateway(failures=0)
    set_gateway(gateway)
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input())
    gateway.failures = 10
    with django_capture_on_commit_callbacks(execute=True):
        issued = key_issue(actor=admin_user, partner=partner, plan=plan, name="app")
    key = PartnerApiKey.objects.get(pk=issued.key.pk)
    assert key.sync_state == SyncState.FAILED
    assert "ServiceUnavailable" in key.sync_error
    assert key.gateway_id == ""
    assert key.sync_attempts == 1

    # When the gateway is back and an admin retries
    gateway.failures = 0
    with django_capture_on_commit_callbacks(execute=True):
        again = key_retry_sync(actor=admin_user, key=key)
    # Then the key gets a new secret (shown once), reaches the gateway, and the old secret is dead
    assert again is not None and again.secret != issued.secret
    key.refresh_from_db()
    assert (key.sync_state, key.gateway_id) == (SyncState.SYNCED, f"key-{key.pk}")
    assert key.key_hash == hash_secret(again.secret)
    assert gateway.secrets[-1] == again.secret
    assert audit("partner_key.reissue")
    assert Client().get("/partners/probe/", headers={"x-api-key": issued.secret}).status_code == 403
    assert Client().get("/partners/probe/", headers={"x-api-key": again.secret}).status_code == 200


def test_reconcile_repair_retries_failed_objects(
    partner: Partner, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    gateway = FlakyGateway(failures=10, retryable=False)
    set_gateway(gateway)
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input())
    plan.refresh_from_db()
    assert plan.sync_state == SyncState.FAILED
    set_gateway(None)
    report = gateway_reconcile(repair=False)
    assert [(d.kind, d.pk, d.problem) for d in report.drifts] == [("plan", plan.pk, "sync failed")]
    report = gateway_reconcile(repair=True)
    assert len(report.repaired) == 1
    plan.refresh_from_db()
    assert plan.sync_state == SyncState.SYNCED
    assert gateway_reconcile().drifts == []


def test_usage_sync_stores_used_and_remaining_per_day(
    issue: Callable[..., IssuedKey], time_machine: Any
) -> None:
    # Given a key used 3 times yesterday and 2 times today (of 20,000 a month)
    key_and_secret = issue()
    client = Client()
    time_machine.move_to(T0 - timedelta(days=1), tick=False)
    for _ in range(3):
        client.get("/partners/probe/", headers={"x-api-key": key_and_secret.secret})
    time_machine.move_to(T0, tick=False)
    for _ in range(2):
        client.get("/partners/probe/", headers={"x-api-key": key_and_secret.secret})
    # When usage is synced for two days
    assert usage_sync(days=2) == 2
    # Then each day has its count and the quota left at its end
    rows = list(key_and_secret.key.usage.order_by("day").values_list("day", "used", "remaining"))
    assert rows == [(date(2026, 3, 9), 3, 19_997), (date(2026, 3, 10), 2, 19_995)]
    # And syncing again updates rather than duplicates
    assert usage_sync(days=2) == 2
    assert key_and_secret.key.usage.count() == 2


def test_local_usage_reads_counters(
    issue: Callable[..., IssuedKey], plan: UsagePlan, time_machine: Any
) -> None:
    from accounts.partners.services import key_spec, plan_spec

    time_machine.move_to(T0, tick=False)
    issued = issue()
    Client().get("/partners/probe/", headers={"x-api-key": issued.secret})
    usage = LocalGateway().usage(
        plan=plan_spec(plan), keys=[key_spec(issued.key)], start=T0.date(), end=T0.date()
    )
    assert usage == {issued.key.pk: [DayUsage(day=T0.date(), used=1, remaining=19_999)]}
