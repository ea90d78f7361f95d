"""Local enforcement of usage plans on the stand-in endpoint, with a frozen clock.

Each limiter test runs on the SQLite storage and, when REDIS_URL is set, on Redis too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.partners import enforcement
from accounts.partners.enforcement import PartnerLimiter, throttle_item
from accounts.partners.models import KeyStatus, KeyUsage, PartnerApiKey, UsagePlan
from accounts.partners.services import IssuedKey, key_revoke, key_suspend, partner_update, usage_sync
from tests.partners.conftest import T0

PROBE = "/partners/probe/"


def call(client: Client, secret: str | None) -> Any:
    headers = {"x-api-key": secret} if secret is not None else {}
    return client.get(PROBE, headers=headers)


@pytest.fixture
def client() -> Client:
    return Client()


def test_the_probe_is_routed_where_the_docs_say() -> None:
    assert reverse("partners:probe") == PROBE


# --- throttle ------------------------------------------------------------------------------------
def test_rate_5_burst_10_admits_exactly_10_instant_requests(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    client: Client,
    time_machine: Any,
) -> None:
    # Given a key on a plan of 5 requests/s with a burst of 10, and a clock that does not move
    plan = make_plan(name="Five", rate_limit=5, burst_limit=10, quota_limit=None, quota_period="")
    secret = issue(plan=plan).secret
    time_machine.move_to(T0, tick=False)

    # When 15 requests arrive at the same instant
    answers = [call(client, secret) for _ in range(15)]

    # Then exactly the first 10 pass, the rest are throttled with a Retry-After
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 5
    refused = answers[10]
    assert refused["X-RateLimit-Reason"] == "throttle"
    assert refused.json() == {"message": "Too Many Requests", "reason": "throttle"}
    assert int(refused["Retry-After"]) in (1, 2)
    assert answers[0].json() == {"ok": True, "key": secret[:10]}


def test_rate_5_burst_10_then_admits_about_5_per_second(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    time_machine: Any,
) -> None:
    # Given the 5/s, burst 10 key after its burst of 10 at T0
    plan = make_plan(name="Five", rate_limit=5, burst_limit=10, quota_limit=None, quota_period="")
    policy = enforcement.policy_for(issue(plan=plan).secret)
    assert policy is not None
    time_machine.move_to(T0, tick=False)
    burst = [limiter.check(policy, stage="meridian:local", method_path="/x/GET").allowed for _ in range(12)]
    assert burst.count(True) == 10

    # When a client keeps asking 20 times a second for 20 seconds
    admitted: list[float] = []
    for step in range(1, 401):
        time_machine.move_to(T0 + timedelta(seconds=step * 0.05), tick=False)
        if limiter.check(policy, stage="meridian:local", method_path="/x/GET").allowed:
            admitted.append(step * 0.05)

    # Then about 5 a second pass (never more), and no window ever beats the token bucket's envelope
    assert 4.0 * 20 <= len(admitted) <= 5 * 20
    times = [0.0] * 10 + admitted
    for window in (1.0, 2.0, 5.0):
        for start in times:
            inside = sum(1 for t in times if start <= t < start + window)
            assert inside <= 10 + 5 * window


@pytest.mark.parametrize(
    ("rate", "burst", "amount", "seconds"),
    [(5, 10, 10, 2), (50, 500, 500, 10), (0.5, 1, 1, 2), (3, 10, 10, 4), (100, 50, 100, 1)],
)
def test_throttle_window_keeps_the_burst_and_never_exceeds_the_rate(
    rate: float, burst: int, amount: int, seconds: int
) -> None:
    # Given a plan's throttle, when it becomes a moving window, then the burst is exact (or one
    # second of the rate when the burst is smaller) and amount/seconds never exceeds the rate
    item = throttle_item(rate, burst, "t")
    assert (item.amount, item.get_expiry()) == (amount, seconds)
    assert item.amount / item.get_expiry() <= max(rate, burst)
    if burst >= rate:
        assert item.amount / item.get_expiry() <= rate


# --- quota ---------------------------------------------------------------------------------------
def test_quota_100_per_day_admits_100_then_quota_429_until_midnight_utc(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    client: Client,
    time_machine: Any,
) -> None:
    # Given a key on a plan of 100 requests per DAY (throttle high enough not to interfere)
    plan = make_plan(name="Daily", rate_limit=1000, burst_limit=1000, quota_limit=100, quota_period="DAY")
    secret = issue(plan=plan).secret
    time_machine.move_to(T0, tick=False)

    # When 101 requests arrive during the day
    answers = [call(client, secret) for _ in range(101)]

    # Then 100 pass and the 101st is refused as quota (not throttling), until midnight UTC
    assert [a.status_code for a in answers[:100]] == [200] * 100
    assert answers[99]["X-RateLimit-Quota-Remaining"] == "0"
    refused = answers[100]
    assert refused.status_code == 429
    assert refused["X-RateLimit-Reason"] == "quota"
    assert refused.json() == {"message": "Limit Exceeded", "reason": "quota"}
    assert int(refused["Retry-After"]) == 12 * 3600
    time_machine.move_to(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), tick=False)
    assert call(client, secret).status_code == 429
    time_machine.move_to(datetime(2026, 3, 11, 0, 0, 0, tzinfo=UTC), tick=False)
    assert call(client, secret).status_code == 200


def test_weekly_quota_resets_on_the_offset_day(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    client: Client,
    time_machine: Any,
) -> None:
    # Given a quota of 3 per WEEK starting on Monday (offset 1), spent on Tuesday 10 March 2026
    plan = make_plan(
        name="Weekly", rate_limit=100, burst_limit=100, quota_limit=3, quota_period="WEEK", quota_offset=1
    )
    secret = issue(plan=plan).secret
    time_machine.move_to(T0, tick=False)
    assert [call(client, secret).status_code for _ in range(4)] == [200, 200, 200, 429]

    # When Sunday comes, the quota is still spent; when Monday comes, it is back
    time_machine.move_to(datetime(2026, 3, 15, 12, 0, tzinfo=UTC), tick=False)
    assert call(client, secret).status_code == 429
    time_machine.move_to(datetime(2026, 3, 16, 0, 0, tzinfo=UTC), tick=False)
    assert call(client, secret).status_code == 200


def test_refused_requests_do_not_use_quota_or_count_as_usage(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    client: Client,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a key with 5 requests a day, all used, and 3 more refused
    plan = make_plan(name="Five a day", rate_limit=100, burst_limit=100, quota_limit=5, quota_period="DAY")
    issued = issue(plan=plan)
    time_machine.move_to(T0, tick=False)
    statuses = [call(client, issued.secret).status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3

    # When usage is synced
    usage_sync(days=1)

    # Then the day shows 5 used, 0 remaining; a top-up of 2 admits exactly 2 more
    row = KeyUsage.objects.get(key=issued.key)
    assert (row.day, row.used, row.remaining) == (T0.date(), 5, 0)
    from accounts.partners.services import key_top_up

    with django_capture_on_commit_callbacks(execute=True):
        key_top_up(actor=None, key=issued.key, amount=2, reason="launch day")
    assert [call(client, issued.secret).status_code for _ in range(3)] == [200, 200, 429]


# --- 403 -----------------------------------------------------------------------------------------
def forbidden(answer: Any) -> bool:
    return answer.status_code == 403 and answer.json() == {"message": "Forbidden"}


def test_missing_key_is_403(client: Client, db: None) -> None:
    assert forbidden(call(client, None))
    assert forbidden(call(client, ""))


def test_unknown_key_is_403(client: Client, issue: Callable[..., IssuedKey]) -> None:
    secret = issue().secret
    assert forbidden(call(client, secret[:-1] + ("A" if secret[-1] != "A" else "B")))


def test_suspended_key_is_403(client: Client, issue: Callable[..., IssuedKey], time_machine: Any) -> None:
    issued = issue()
    assert call(client, issued.secret).status_code == 200
    key_suspend(actor=None, key=issued.key)
    assert forbidden(call(client, issued.secret))


def test_revoked_key_is_403(client: Client, issue: Callable[..., IssuedKey]) -> None:
    issued = issue()
    key_revoke(actor=None, key=issued.key)
    assert forbidden(call(client, issued.secret))


def test_key_past_its_expiry_is_403_before_the_job_runs(
    client: Client, issue: Callable[..., IssuedKey], time_machine: Any
) -> None:
    # Given a key that expires in an hour
    time_machine.move_to(T0, tick=False)
    issued = issue(expires_at=T0 + timedelta(hours=1))
    assert call(client, issued.secret).status_code == 200

    # When the hour has passed (and the expiry job has not run yet), then it is refused
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)
    assert PartnerApiKey.objects.get(pk=issued.key.pk).status == KeyStatus.ACTIVE
    assert forbidden(call(client, issued.secret))


def test_expired_status_is_403(client: Client, issue: Callable[..., IssuedKey]) -> None:
    issued = issue()
    PartnerApiKey.objects.filter(pk=issued.key.pk).update(status=KeyStatus.EXPIRED)
    assert forbidden(call(client, issued.secret))


def test_inactive_partner_key_is_403(client: Client, issue: Callable[..., IssuedKey]) -> None:
    issued = issue()
    partner_update(actor=None, partner=issued.key.partner, active=False)
    assert forbidden(call(client, issued.secret))


def test_key_on_a_plan_without_this_stage_is_403(
    client: Client, settings: Any, make_plan: Callable[..., UsagePlan], issue: Callable[..., IssuedKey]
) -> None:
    # Given a plan for another stage of the deployment's API
    settings.API_GATEWAY_STAGES = ["meridian:local", "meridian:other"]
    plan = make_plan(name="Other stage", api_stages=["meridian:other"])
    issued = issue(plan=plan)
    # Then its key cannot call this stage
    assert forbidden(call(client, issued.secret))


# --- cost per request ------------------------------------------------------------------------------
def test_admitted_requests_write_nothing_to_the_database(
    client: Client, issue: Callable[..., IssuedKey], settings: Any, time_machine: Any
) -> None:
    # Given a key already used once this minute (its last_used_at written), with key caching on
    settings.PARTNER_KEY_CACHE_SECONDS = 60
    time_machine.move_to(T0, tick=False)
    issued = issue()
    assert call(client, issued.secret).status_code == 200
    assert PartnerApiKey.objects.get(pk=issued.key.pk).last_used_at == T0

    # When it makes 20 more requests in the same minute
    with CaptureQueriesContext(connection) as queries:
        assert all(call(client, issued.secret).status_code == 200 for _ in range(20))

    # Then the database was not touched at all (counts live in the limiter's storage)
    assert queries.captured_queries == []
    assert enforcement.get_limiter().day_used(issued.key.pk, T0.date()) == 21


def test_a_broken_limiter_storage_fails_open_but_still_checks_keys(
    client: Client, issue: Callable[..., IssuedKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limiter whose storage errors on every call
    issued = issue()
    limiter = enforcement.get_limiter()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis down")

    monkeypatch.setattr(limiter.window, "hit", broken)
    # Then a good key still passes (usage plans are not a security control) and a bad one does not
    assert call(client, issued.secret).status_code == 200
    key_suspend(actor=None, key=issued.key)
    assert forbidden(call(client, issued.secret))


def test_method_throttle_applies_on_top_of_the_plan(
    limiter: PartnerLimiter,
    make_plan: Callable[..., UsagePlan],
    issue: Callable[..., IssuedKey],
    client: Client,
    time_machine: Any,
) -> None:
    # Given a plan of 100/s whose probe method is throttled to 2/s with a burst of 2
    from accounts.partners.gateway.base import MethodThrottle

    plan = make_plan(
        name="Method",
        rate_limit=100,
        burst_limit=100,
        method_throttles=[
            MethodThrottle(stage="meridian:local", path="/partners/probe/GET", rate=2, burst=2)
        ],
    )
    secret = issue(plan=plan).secret
    time_machine.move_to(T0, tick=False)
    # Then the method's own limit binds
    assert [call(client, secret).status_code for _ in range(3)] == [200, 200, 429]


def test_behind_api_gateway_only_unusable_keys_are_refused_and_no_limiter_is_opened(
    client: Client, issue: Callable[..., IssuedKey], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the apigateway backend (API Gateway throttles and counts in front of the portal)
    issued = issue()
    settings.GATEWAY_BACKEND = "apigateway"

    def no_limiter() -> None:
        raise AssertionError("the limiter must not be used behind API Gateway")

    monkeypatch.setattr(enforcement, "get_limiter", no_limiter)
    # Then a usable key passes untouched, a missing or suspended one is still refused
    assert all(call(client, issued.secret).status_code == 200 for _ in range(3))
    assert forbidden(call(client, None))
    key_suspend(actor=None, key=issued.key)
    assert forbidden(call(client, issued.secret))


# --- a key change reaches every worker at once (issue #12) ----------------------------------------
@pytest.mark.parametrize("change", ["revoke", "suspend"])
def test_a_key_stopped_in_one_worker_is_refused_by_another_on_its_next_request(
    change: str,
    limiter: PartnerLimiter,
    issue: Callable[..., IssuedKey],
    admin_user: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given another worker (its own policy cache, the shared limiter storage) that has just
    # admitted the key and caches its policy for five minutes
    settings.PARTNER_KEY_CACHE_SECONDS = 300
    issued = issue()
    other_worker = enforcement.PolicyCache()
    policy = other_worker.policy(issued.secret, limiter=limiter)
    assert policy is not None and policy.refusal(limiter.clock()) is None

    # When this worker revokes (or suspends) the key
    stop = {"revoke": key_revoke, "suspend": key_suspend}[change]
    with django_capture_on_commit_callbacks(execute=True):
        stop(actor=admin_user, key=issued.key)

    # Then the other worker's next lookup refuses it, without waiting for its cache to expire
    policy = other_worker.policy(issued.secret, limiter=limiter)
    assert policy is not None
    assert policy.refusal(limiter.clock()) == {"revoke": "revoked", "suspend": "suspended"}[change]


def test_the_generation_costs_one_storage_read_and_no_query_per_request(
    limiter: PartnerLimiter, issue: Callable[..., IssuedKey], settings: Any
) -> None:
    # Given a cached policy
    settings.PARTNER_KEY_CACHE_SECONDS = 300
    issued = issue()
    worker = enforcement.PolicyCache()
    worker.policy(issued.secret, limiter=limiter)
    # When it is looked up again while nothing changed
    with CaptureQueriesContext(connection) as queries:
        assert worker.policy(issued.secret, limiter=limiter) is not None
    # Then the database is not asked
    assert queries.captured_queries == []
