"""The Fit over 30 days (minutes where they are kept, 14 days; hourly rollups for the rest), and the
quota forecast.

Figures are written as rollups directly, so the expected recommendation can be computed by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from accounts.models import User
from accounts.partners.models import KeyUsage, PartnerApiKey, TrafficHour, TrafficMinute
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import ALL_METHODS
from accounts.partners.traffic.selectors import MINUTE_DAYS, traffic_plan_fit, traffic_quota_forecast
from accounts.partners.traffic.services import MINUTE_RETENTION
from tests.partners.traffic_support import FEED, STAGE

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def minute(key: PartnerApiKey, at: datetime, *, steady: int, burst: int, method: str = ALL_METHODS) -> None:
    TrafficMinute.objects.create(
        key=key, stage=STAGE, method=method, minute=at, requests=steady * 60, steady=steady, burst=burst
    )


def hour(
    key: PartnerApiKey,
    at: datetime,
    *,
    steady: int,
    burst: int,
    requests: int,
    throttled: int = 0,
    quota_refused: int = 0,
    method: str = ALL_METHODS,
) -> None:
    TrafficHour.objects.create(
        key=key,
        stage=STAGE,
        method=method,
        hour=at,
        steady=steady,
        burst=burst,
        requests=requests,
        throttled=throttled,
        quota_refused=quota_refused,
    )


def test_the_fit_judges_30_days_from_hours_and_the_minutes_where_kept(
    issue: Callable[..., IssuedKey], admin_user: User, make_plan: Any
) -> None:
    # given a plan of 10/s, burst 40, 100,000 a month
    plan = make_plan(name="Tight", rate_limit=10, burst_limit=40, quota_limit=100_000)
    key = issue(plan=plan).key
    # 20 minutes yesterday with steady rates 1..20 (one with a burst of 50, the others 10)
    yesterday = NOW - timedelta(days=1)
    for n in range(1, 21):
        minute(key, yesterday + timedelta(minutes=n), steady=n, burst=50 if n == 7 else 10)
    # a per-method minute, which the Fit does not count
    minute(key, yesterday, steady=99, burst=999, method=FEED)
    # hours: 20 days ago a burst of 410 (its minutes are pruned), yesterday's hour, and one 31 days ago
    hour(key, NOW - timedelta(days=20), steady=30, burst=410, requests=100_000, throttled=7)
    hour(key, yesterday, steady=20, burst=50, requests=20_000, throttled=3, quota_refused=2)
    hour(key, NOW - timedelta(days=31), steady=900, burst=4_000, requests=9_999_999, throttled=1_000)
    hour(key, NOW - timedelta(days=20), steady=500, burst=3_000, requests=1, method=FEED)

    fit = traffic_plan_fit(user=admin_user, key=key, now=NOW)

    # minutes: p95 (nearest rank) of 1..20 is the 19th value; 10 minutes over 10/s, 1 over burst 40
    assert (fit.minutes, fit.p95_steady, fit.minutes_over_rate, fit.minutes_over_burst) == (20, 19, 10, 1)
    # hours of 30 days: the peak burst of 20 days ago, the requests and 429s of both hours
    assert (fit.hours, fit.peak_burst, fit.requests) == (2, 410, 120_000)
    assert (fit.throttled, fit.quota_refused) == (10, 2)
    # rate 19 + 20 % = 22.8 → 23; burst 410 + 10 % = 451 (not 452); quota: 120,000 in 20 days,
    # 186,000 a 31-day month, + 20 % = 223,200
    assert (fit.rate, fit.burst, fit.quota_limit, fit.quota_period) == (23, 451, 223_200, "MONTH")
    assert (fit.days, fit.minute_days, fit.steady_source) == (30, 14, "minutes")
    assert fit.evidence == (
        "p95 steady 19 rps, peak burst 410 in the last 30 days (steady from 20 active minutes of the"
        " last 14 days; burst and 120,000 requests from 2 active hours of the last 30 days)"
    )


def test_without_minutes_the_steady_rate_comes_from_the_hours_and_says_so(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    key = issue().key
    # hours 20 days ago only: steady rates 5 and 3 (each its hour's busiest minute)
    hour(key, NOW - timedelta(days=20), steady=5, burst=12, requests=600)
    hour(key, NOW - timedelta(days=20, hours=1), steady=3, burst=8, requests=300)
    fit = traffic_plan_fit(user=admin_user, key=key, now=NOW)
    # p95 of [3, 5] is 5; 5 + 20 % is 6 (5 × 1.2 is 6.000000000000001); burst 12 + 10 % = 13.2 → 14
    assert (fit.minutes, fit.hours, fit.p95_steady, fit.rate, fit.burst) == (0, 2, 5, 6, 14)
    assert fit.steady_source == "hours"
    assert "steady from 2 hourly rollups (no minutes in the last 14 days" in fit.evidence


def test_a_key_without_traffic_has_nothing_to_judge(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    fit = traffic_plan_fit(user=admin_user, key=issue().key, now=NOW)
    assert not fit.has_traffic
    assert (fit.rate, fit.burst, fit.steady_source) == (1, 1, "")


def test_the_fit_reads_minutes_exactly_as_long_as_they_are_kept() -> None:
    assert timedelta(days=MINUTE_DAYS) == MINUTE_RETENTION


# --- quota forecast ----------------------------------------------------------------------------------
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the plan's month runs from 1 March to 1 April


def _used(key: PartnerApiKey, used: int) -> None:
    KeyUsage.objects.create(key=key, day=T0.date(), used=used, remaining=20_000 - used)


def test_the_quota_runs_out_at_the_last_24_hours_pace(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    # given 10,000 of 20,000 used, and 24 hours of 500 requests of which 50 throttled (10,800 admitted a day)
    key = issue().key
    _used(key, 10_000)
    for n in range(1, 25):
        hour(key, T0 - timedelta(hours=n), steady=1, burst=1, requests=500, throttled=50)
    forecast = traffic_quota_forecast(user=admin_user, key=key, now=T0)
    assert forecast is not None
    assert (forecast.used, forecast.quota, forecast.per_day, forecast.pace_source) == (
        10_000,
        20_000,
        10_800,
        "traffic",
    )
    # 10,000 left at 10,800 a day: 0.926 days later, on 11 March
    assert forecast.runs_out == T0 + timedelta(days=10_000 / 10_800)
    assert forecast.runs_out is not None and forecast.runs_out.date() == date(2026, 3, 11)


def test_without_traffic_figures_the_pace_is_the_periods_average(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    key = issue().key
    # 10,000 used in 9.5 days: the other 10,000 take 9.5 more, to 20 March 00:00
    _used(key, 10_000)
    forecast = traffic_quota_forecast(user=admin_user, key=key, now=T0)
    assert forecast is not None and forecast.pace_source == "period"
    assert forecast.runs_out == datetime(2026, 3, 20, tzinfo=UTC)


def test_a_quota_that_lasts_the_period_has_no_date_and_a_spent_one_is_spent_now(
    issue: Callable[..., IssuedKey], admin_user: User, make_plan: Any
) -> None:
    calm, spent = issue().key, issue(name="Spent").key
    _used(calm, 1_000)  # ≈105 a day: 19,000 would take 180 days
    _used(spent, 20_000)
    lasting = traffic_quota_forecast(user=admin_user, key=calm, now=T0)
    assert lasting is not None and lasting.runs_out is None and not lasting.spent
    gone = traffic_quota_forecast(user=admin_user, key=spent, now=T0)
    assert gone is not None and gone.spent and gone.runs_out == T0
    unlimited = issue(name="Unlimited", plan=make_plan(name="Open", quota_limit=None, quota_period="")).key
    assert traffic_quota_forecast(user=admin_user, key=unlimited, now=T0) is None
