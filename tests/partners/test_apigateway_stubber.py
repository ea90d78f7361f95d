"""get_usage / update_usage against botocore's Stubber (moto implements neither), with AWS's shapes:
`items` maps each key id to one [used, remaining] pair per day from startDate to endDate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from accounts.models import User
from accounts.partners.gateway import GatewayError, set_gateway
from accounts.partners.gateway.apigateway import ApiGatewayBackend
from accounts.partners.models import KeyUsage, Partner, PartnerApiKey, QuotaTopUp, SyncState, UsagePlan
from accounts.partners.services import key_sync, key_top_up, usage_sync
from tests.partners.conftest import T0


@pytest.fixture
def stubbed(
    settings: Any, monkeypatch: pytest.MonkeyPatch, on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey]
) -> Iterator[tuple[ApiGatewayBackend, Stubber]]:
    """The apigateway backend on a stubbed client (once the objects exist): every call must be one
    the test expects."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("apigateway", region_name="eu-west-1")
    backend = ApiGatewayBackend(client=client)
    settings.GATEWAY_BACKEND = "apigateway"
    set_gateway(backend)
    with Stubber(client) as stubber:
        yield backend, stubber
        stubber.assert_no_pending_responses()
    set_gateway(None)


@pytest.fixture
def on_gateway(
    partner: Partner, plan: UsagePlan, issue: Callable[..., Any]
) -> tuple[UsagePlan, PartnerApiKey, PartnerApiKey]:
    """A plan and two keys as if already synced to API Gateway (made locally, ids set by hand)."""
    first = issue(name="tv").key
    second = issue(name="web").key
    UsagePlan.objects.filter(pk=plan.pk).update(gateway_id="up1234")
    PartnerApiKey.objects.filter(pk=first.pk).update(gateway_id="key1")
    PartnerApiKey.objects.filter(pk=second.pk).update(gateway_id="key2")
    plan.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    return plan, first, second


def usage_response(plan_id: str, start: date, end: date, items: dict[str, list[list[int]]]) -> dict[str, Any]:
    return {
        "usagePlanId": plan_id,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "items": items,
    }


def test_usage_sync_stores_get_usage_per_key_per_day(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
    time_machine: Any,
) -> None:
    # Given API Gateway's usage for two days of two keys (20,000 a month each)
    _, stubber = stubbed
    plan, first, second = on_gateway
    time_machine.move_to(T0, tick=False)
    yesterday, today = T0.date() - timedelta(days=1), T0.date()
    stubber.add_response(
        "get_usage",
        usage_response(
            "up1234",
            yesterday,
            today,
            {"key1": [[120, 19880], [30, 19850]], "key2": [[0, 20000], [5, 19995]]},
        ),
        {"usagePlanId": "up1234", "startDate": yesterday.isoformat(), "endDate": today.isoformat()},
    )
    # When the hourly job runs
    assert usage_sync(days=2) == 4
    # Then each key has one row per day with used and remaining
    rows = set(KeyUsage.objects.values_list("key_id", "day", "used", "remaining"))
    assert rows == {
        (first.pk, yesterday, 120, 19880),
        (first.pk, today, 30, 19850),
        (second.pk, yesterday, 0, 20000),
        (second.pk, today, 5, 19995),
    }


def test_usage_sync_follows_pages(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
    time_machine: Any,
) -> None:
    _, stubber = stubbed
    _, first, second = on_gateway
    time_machine.move_to(T0, tick=False)
    day = T0.date()
    params = {"usagePlanId": "up1234", "startDate": day.isoformat(), "endDate": day.isoformat()}
    stubber.add_response(
        "get_usage",
        {**usage_response("up1234", day, day, {"key1": [[7, 19993]]}), "position": "next"},
        params,
    )
    stubber.add_response(
        "get_usage",
        usage_response("up1234", day, day, {"key2": [[9, 19991]]}),
        {**params, "position": "next"},
    )
    assert usage_sync(days=1) == 2
    assert dict(KeyUsage.objects.values_list("key_id", "used")) == {first.pk: 7, second.pk: 9}


def test_top_up_replaces_remaining_with_remaining_plus_the_amount(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
    admin_user: User,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a key with 900 requests left today, as get_usage reports
    _, stubber = stubbed
    _, first, _ = on_gateway
    time_machine.move_to(T0, tick=False)
    day = T0.date().isoformat()
    stubber.add_response(
        "get_usage",
        usage_response("up1234", T0.date(), T0.date(), {"key1": [[19100, 900]]}),
        {"usagePlanId": "up1234", "keyId": "key1", "startDate": day, "endDate": day},
    )
    stubber.add_response(
        "update_usage",
        usage_response("up1234", T0.date(), T0.date(), {"key1": [[19100, 5900]]}),
        {
            "usagePlanId": "up1234",
            "keyId": "key1",
            "patchOperations": [{"op": "replace", "path": "/remaining", "value": "5900"}],
        },
    )
    # When an admin tops it up by 5,000
    with django_capture_on_commit_callbacks(execute=True):
        top_up = key_top_up(actor=admin_user, key=first, amount=5000, reason="campaign")
    # Then the gateway's remaining became 5,900 and the top-up is recorded as synced
    top_up.refresh_from_db()
    assert top_up.sync_state == SyncState.SYNCED


def test_rotation_carries_the_old_keys_remaining_quota_to_the_new_key(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
    monkeypatch: pytest.MonkeyPatch,
    time_machine: Any,
) -> None:
    # Given a new key that replaced key1 (which has 1,234 requests left this month)
    backend, stubber = stubbed
    _, first, second = on_gateway
    PartnerApiKey.objects.filter(pk=second.pk).update(replaces=first, carry_over_pending=True)
    monkeypatch.setattr(backend, "key_put", lambda key, secret: key.gateway_id)
    time_machine.move_to(T0, tick=False)
    day = T0.date().isoformat()
    stubber.add_response(
        "get_usage",
        usage_response("up1234", T0.date(), T0.date(), {"key1": [[18766, 1234]]}),
        {"usagePlanId": "up1234", "keyId": "key1", "startDate": day, "endDate": day},
    )
    stubber.add_response(
        "update_usage",
        usage_response("up1234", T0.date(), T0.date(), {"key2": [[0, 1234]]}),
        {
            "usagePlanId": "up1234",
            "keyId": "key2",
            "patchOperations": [{"op": "replace", "path": "/remaining", "value": "1234"}],
        },
    )
    # When the new key syncs, then its remaining is set once and the carry-over is done
    assert key_sync(key_id=second.pk) == SyncState.SYNCED
    assert PartnerApiKey.objects.get(pk=second.pk).carry_over_pending is False
    assert key_sync(key_id=second.pk) == SyncState.SYNCED  # no second get/update: the stubber would fail


def test_throttled_get_usage_is_reported_after_botocores_retries_not_retried_again(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
) -> None:
    # given API Gateway still throttles GetUsage once botocore's own retries are spent
    _, stubber = stubbed
    stubber.add_client_error("get_usage", service_error_code="TooManyRequestsException", http_status_code=429)
    # when usage is synced, then the error is reported at once (no loop of ours calls again) ...
    with pytest.raises(GatewayError) as caught:
        usage_sync(days=1)
    stubber.assert_no_pending_responses()
    # ... classified by its code, and retryable by the next scheduled run
    assert caught.value.code == "TooManyRequestsException"
    assert caught.value.status == 429
    assert caught.value.retryable


def test_a_failed_top_up_is_recorded_not_lost(
    stubbed: tuple[ApiGatewayBackend, Stubber],
    on_gateway: tuple[UsagePlan, PartnerApiKey, PartnerApiKey],
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, stubber = stubbed
    _, first, _ = on_gateway
    stubber.add_client_error("get_usage", service_error_code="NotFoundException", http_status_code=404)
    with django_capture_on_commit_callbacks(execute=True):
        key_top_up(actor=admin_user, key=first, amount=10, reason="x")
    top_up = QuotaTopUp.objects.get()
    assert top_up.sync_state == SyncState.FAILED and "NotFoundException" in top_up.sync_error
