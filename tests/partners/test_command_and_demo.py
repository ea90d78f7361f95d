"""`manage.py gateway …` in local mode, the scheduled jobs behind it, and the partner demo data."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.partners.demo import load_partner_demo
from accounts.partners.gateway import GatewayError
from accounts.partners.models import KeyStatus, KeyUsage, Partner, PartnerApiKey, SyncState, UsagePlan
from accounts.partners.services import IssuedKey
from tests.partners.conftest import T0


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("gateway", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_sync_usage_and_expire_keys(issue: Callable[..., IssuedKey], time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    issued = issue(expires_at=T0 + timedelta(hours=1))
    Client().get("/partners/probe/", headers={"x-api-key": issued.secret})
    assert run("sync-usage", "--days", "1") == "Usage stored: 1 key-days (local).\n"
    assert KeyUsage.objects.get().used == 1
    assert run("expire-keys") == "Expired 0 key(s).\n"
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)
    assert run("expire-keys") == "Expired 1 key(s).\n"
    assert PartnerApiKey.objects.get().status == KeyStatus.EXPIRED


def test_reconcile_locally_reports_and_repairs_unsynced_objects(plan: UsagePlan) -> None:
    assert run("reconcile") == "No drift (local).\n"
    UsagePlan.objects.filter(pk=plan.pk).update(sync_state=SyncState.FAILED, sync_error="boom")
    out = run("reconcile")
    assert f"plan {plan.pk}: sync failed" in out and "--repair" in out
    assert "Repaired 1; failed 0." in run("reconcile", "--repair")
    assert UsagePlan.objects.get(pk=plan.pk).sync_state == SyncState.SYNCED


def test_gateway_failures_end_the_command_with_an_error(monkeypatch: pytest.MonkeyPatch, db: None) -> None:
    from accounts.partners import services as partner_services

    def down(**kwargs: Any) -> int:
        raise GatewayError("get_usage: ServiceUnavailable")

    monkeypatch.setattr(partner_services, "usage_sync", down)
    with pytest.raises(CommandError, match="ServiceUnavailable"):
        run("sync-usage")


def test_scheduled_jobs_name_these_commands() -> None:
    from portal.scheduled import COMMANDS

    assert COMMANDS["gateway_usage_sync"] == ("gateway", "sync-usage")
    assert COMMANDS["api_keys_expire"] == ("gateway", "expire-keys")


def test_partner_demo_loads_sams_journey_once(db: None, django_capture_on_commit_callbacks: Any) -> None:
    written: list[str] = []
    with django_capture_on_commit_callbacks(execute=True):
        issued = load_partner_demo(write=written.append)
    assert issued is not None
    plan = UsagePlan.objects.get(name="Partner Gold")
    assert (float(plan.rate_limit), plan.burst_limit, plan.quota_limit, plan.quota_period) == (
        50.0,
        500,
        20_000,
        "MONTH",
    )
    assert Partner.objects.get().name == "Optus"
    assert issued.secret in "".join(written)
    assert Client().get("/partners/probe/", headers={"x-api-key": issued.secret}).status_code == 200
    # Running it again changes nothing and prints no secret
    again: list[str] = []
    assert load_partner_demo(write=again.append) is None
    assert again == [] and PartnerApiKey.objects.count() == 1


def test_usage_demo_puts_the_partner_past_80_percent_once(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given Sam's demo partner and key
    from accounts.partners.demo import load_usage_demo
    from accounts.partners.selectors import quota_alerts

    with django_capture_on_commit_callbacks(execute=True):
        load_partner_demo(write=lambda _: None)
    # When the usage demo runs (through the limiter's counters and the usage sync service)
    now = T0
    assert load_usage_demo(now=now)
    # Then this month's usage adds up to 82 % of the 20,000 quota and the dashboard warns at 80 %
    key = PartnerApiKey.objects.get()
    month = KeyUsage.objects.filter(key=key, day__gte=now.date().replace(day=1), day__lte=now.date())
    assert sum(month.values_list("used", flat=True)) == 16_400
    alerts = quota_alerts(user=admin_user, now=now)
    assert [(a.key.pk, a.level) for a in alerts] == [(key.pk, 80)]
    # And running it again adds nothing
    assert load_usage_demo(now=now) == 0
    assert sum(month.values_list("used", flat=True)) == 16_400
