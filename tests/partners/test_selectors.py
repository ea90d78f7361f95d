"""Selectors: usage summaries, 50/80/100 % quota alerts, expiring keys, the chart, query counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from accounts.access import AccessDenied
from accounts.models import User
from accounts.partners.gateway.quota import offset_error, period_bounds
from accounts.partners.models import KeyUsage, PartnerApiKey, QuotaTopUp, UsagePlan
from accounts.partners.selectors import (
    expiring_keys,
    key_list,
    key_usage_chart,
    partner_list,
    plan_limit_warning,
    plan_list,
    quota_alerts,
    usage_summaries,
)
from accounts.partners.services import IssuedKey, key_revoke, key_suspend, partner_create, plan_update
from tests.partners.conftest import STAGE, T0, plan_input

DENIED_ROLES = ["editor", "au_editor", "au_manager", "reviewer", "nobody"]


def used(key: PartnerApiKey, day: date, count: int, remaining: int | None) -> None:
    KeyUsage.objects.update_or_create(key=key, day=day, defaults={"used": count, "remaining": remaining})


# --- quota periods ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("period", "offset", "at", "start", "end"),
    [
        ("DAY", 0, datetime(2026, 3, 10, 23, 59, tzinfo=UTC), date(2026, 3, 10), date(2026, 3, 11)),
        ("WEEK", 0, datetime(2026, 3, 10, 12, tzinfo=UTC), date(2026, 3, 8), date(2026, 3, 15)),
        ("WEEK", 1, datetime(2026, 3, 10, 12, tzinfo=UTC), date(2026, 3, 9), date(2026, 3, 16)),
        ("WEEK", 1, datetime(2026, 3, 15, 12, tzinfo=UTC), date(2026, 3, 9), date(2026, 3, 16)),
        ("WEEK", 6, datetime(2026, 3, 14, 0, tzinfo=UTC), date(2026, 3, 14), date(2026, 3, 21)),
        ("MONTH", 0, datetime(2026, 3, 31, 23, tzinfo=UTC), date(2026, 3, 1), date(2026, 4, 1)),
        ("MONTH", 14, datetime(2026, 3, 10, tzinfo=UTC), date(2026, 2, 15), date(2026, 3, 15)),
        ("MONTH", 27, datetime(2026, 1, 5, tzinfo=UTC), date(2025, 12, 28), date(2026, 1, 28)),
    ],
)
def test_quota_periods_start_on_their_offset_in_utc(
    period: str, offset: int, at: datetime, start: date, end: date
) -> None:
    begin, finish = period_bounds(period, offset, at)
    assert (begin.date(), finish.date()) == (start, end)
    assert begin.tzinfo is UTC and begin.hour == 0


def test_offset_ranges() -> None:
    assert offset_error("DAY", 0) is None and offset_error("DAY", 1)
    assert offset_error("WEEK", 6) is None and offset_error("WEEK", 7)
    assert offset_error("MONTH", 27) is None and offset_error("MONTH", 28)
    assert offset_error("YEAR", 0)


# --- summaries and alerts ---------------------------------------------------------------------------
def test_alerts_at_50_80_and_100_percent_worst_first(
    issue: Callable[..., IssuedKey], admin_user: User, django_assert_max_num_queries: Any
) -> None:
    # Given four keys on a 20,000-a-month plan, at 30 %, 55 %, 85 % and 100 % of it
    keys = [issue(name=f"app {n}").key for n in range(4)]
    for key, percent in zip(keys, (30, 55, 85, 100), strict=True):
        used(key, T0.date(), 100, 20_000 - 200 * percent)
    # When the dashboard asks (three queries whatever the number of keys, plus the user's grants)
    with django_assert_max_num_queries(4):
        alerts = quota_alerts(user=admin_user, now=T0)
    # Then the three past 50 % come back, worst first, with their level
    assert [(a.key.pk, a.level) for a in alerts] == [(keys[3].pk, 100), (keys[2].pk, 80), (keys[1].pk, 50)]
    assert alerts[0].usage.used == 20_000 and alerts[0].usage.remaining == 0


def test_top_ups_raise_the_quota_alerts_measure_against(
    issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    # Given a key that used 17,000 of 20,000 (85 %) and got 5,000 more this month
    key = issue().key
    used(key, T0.date(), 17_000, 8_000)
    QuotaTopUp.objects.create(
        key=key, amount=5_000, reason="x", period_start=datetime(2026, 3, 1, tzinfo=UTC), sync_state="synced"
    )
    # Then it is at 17,000 of 25,000 = 68 %: a 50 % alert, no longer 80 %
    alert = quota_alerts(user=admin_user, now=T0)[0]
    assert (alert.level, alert.usage.used, alert.usage.quota) == (50, 17_000, 25_000)


def test_usage_summary_without_remaining_sums_the_period(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    used(key, date(2026, 2, 28), 5_000, None)  # last month: not counted
    used(key, date(2026, 3, 1), 1_000, None)
    used(key, T0.date(), 2_000, None)
    summary = usage_summaries([key], now=T0)[key.pk]
    assert (summary.today, summary.used, summary.quota, summary.remaining) == (2_000, 3_000, 20_000, 17_000)
    assert summary.bar_percent == 15 and summary.level == 0


def test_alerts_skip_revoked_and_suspended_keys_and_non_admins(
    issue: Callable[..., IssuedKey], admin_user: User, request: pytest.FixtureRequest
) -> None:
    spent = issue(name="revoked").key
    paused = issue(name="suspended").key
    for key in (spent, paused):
        used(key, T0.date(), 20_000, 0)
    key_revoke(actor=None, key=spent)
    key_suspend(actor=None, key=paused)
    assert quota_alerts(user=admin_user, now=T0) == []
    live = issue(name="live").key
    used(live, T0.date(), 20_000, 0)
    assert len(quota_alerts(user=admin_user, now=T0)) == 1
    for role in DENIED_ROLES:
        assert quota_alerts(user=request.getfixturevalue(role), now=T0) == []
        assert expiring_keys(user=request.getfixturevalue(role), now=T0) == []


def test_expiring_keys_within_7_days_soonest_first(
    issue: Callable[..., IssuedKey], admin_user: User, time_machine: Any, django_assert_max_num_queries: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    soon = issue(name="soon", expires_at=T0 + timedelta(days=2)).key
    edge = issue(name="edge", expires_at=T0 + timedelta(days=7)).key
    issue(name="later", expires_at=T0 + timedelta(days=8))
    issue(name="never")
    revoked = issue(name="revoked", expires_at=T0 + timedelta(days=1)).key
    key_revoke(actor=None, key=revoked)
    with django_assert_max_num_queries(2):  # the user's grants, then the keys
        keys = expiring_keys(user=admin_user, now=T0)
    assert [k.pk for k in keys] == [soon.pk, edge.pk]
    assert keys[0].partner.name == "Optus"


# --- the chart ---------------------------------------------------------------------------------------
def test_chart_has_30_days_bars_and_the_quota_line(
    make_plan: Callable[..., UsagePlan], issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    plan = make_plan(name="Daily", quota_limit=1_000, quota_period="DAY")
    key = issue(plan=plan).key
    used(key, T0.date(), 500, 500)
    used(key, T0.date() - timedelta(days=1), 1_000, 0)
    chart = key_usage_chart(user=admin_user, key=key, now=T0)
    assert len(chart.days) == 30 and chart.days[-1].day == T0.date()
    assert (chart.days[-1].used, chart.days[-1].quota, chart.y_max) == (500, 1_000, 1_000)
    # A day at the quota reaches the top of the plot; an empty day has no height
    assert chart.days[-2].bar_y == chart.top
    assert chart.days[0].bar_height == 0
    assert chart.quota_points.count(",") == 30
    assert chart.has_data


def test_a_few_requests_against_a_big_quota_get_their_own_scale(
    make_plan: Callable[..., UsagePlan], issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    # Given a key with a 25,000 a month quota that made 31 requests in the last days
    plan = make_plan(name="Partner Silver", quota_limit=25_000, quota_period="MONTH")
    key = issue(plan=plan).key
    for back, count in enumerate((20, 8, 3)):
        used(key, T0.date() - timedelta(days=back), count, None)
    # When the chart is drawn
    chart = key_usage_chart(user=admin_user, key=key, now=T0)
    # Then the bars have their own scale (the busiest day is most of the panel, not a flat line)
    assert chart.y_max == 20
    assert chart.days[-1].bar_y == chart.top
    assert chart.days[-2].bar_height > (chart.bottom - chart.top) / 3
    # And the period's use is drawn against the quota on a second scale, with readable labels
    assert chart.period_max == 25_000 and chart.period_top > chart.bottom
    assert [t.label for t in chart.period_ticks] == ["0", "12,500", "25,000"]
    assert [t.label for t in chart.y_ticks] == ["0", "10", "20"]
    assert chart.x_ticks[-1].label == f"{T0.day} {T0:%b}"


def test_throttled_and_quota_refused_requests_stack_on_the_days_bars(
    make_plan: Callable[..., UsagePlan], issue: Callable[..., IssuedKey], admin_user: User
) -> None:
    # Given a key that served 40 requests yesterday and was refused 6 (throttled) and 4 (quota)
    from accounts.partners.traffic.aggregation import ALL_METHODS
    from accounts.partners.traffic.models import TrafficHour

    plan = make_plan(name="Partner Bronze", quota_limit=1_000, quota_period="MONTH")
    key = issue(plan=plan).key
    yesterday = T0.date() - timedelta(days=1)
    used(key, yesterday, 40, None)
    hour = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
    for method, throttled, quota in ((ALL_METHODS, 6, 4), ("/feed/v1/{market}/GET", 6, 4)):
        TrafficHour.objects.create(
            key=key,
            stage=STAGE,
            method=method,
            hour=hour,
            requests=50,
            throttled=throttled,
            quota_refused=quota,
        )
    # When the chart is drawn
    chart = key_usage_chart(user=admin_user, key=key, now=T0)
    day = chart.days[-2]
    # Then the day counts the refusals once (the all-methods bucket), and they stack on its bar
    assert (day.used, day.throttled, day.quota_refused) == (40, 6, 4)
    assert chart.y_max >= 50 and chart.has_refusals
    assert day.quota_y < day.throttled_y < day.bar_y
    assert day.throttled_height > 0 and day.quota_height > 0
    # And days without refusals draw none
    assert chart.days[-1].throttled == chart.days[-1].quota_refused == 0


def test_chart_accumulates_within_a_monthly_period(issue: Callable[..., IssuedKey], admin_user: User) -> None:
    key = issue().key
    used(key, date(2026, 2, 28), 300, None)
    used(key, date(2026, 3, 1), 100, None)
    used(key, date(2026, 3, 2), 50, None)
    chart = key_usage_chart(user=admin_user, key=key, now=T0)
    by_day = {d.day: d.period_used for d in chart.days}
    assert (by_day[date(2026, 2, 28)], by_day[date(2026, 3, 1)], by_day[date(2026, 3, 2)]) == (300, 100, 150)


# --- lists, access, query counts ------------------------------------------------------------------------
def test_lists_count_keys_without_n_plus_one(
    issue: Callable[..., IssuedKey],
    plan: UsagePlan,
    admin_user: User,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(5):
        issue(name=f"app {n}")
    key_revoke(actor=None, key=PartnerApiKey.objects.first())  # type: ignore[arg-type]
    partner_create(actor=None, name="Telstra")
    with django_assert_max_num_queries(2):  # the user's grants, then the partners
        partners = {p.name: (p.live_keys, p.total_keys) for p in partner_list(user=admin_user)}
    assert partners == {"Optus": (4, 5), "Telstra": (0, 0)}
    with django_assert_max_num_queries(1):
        assert [(p.name, p.keys_count) for p in plan_list(user=admin_user)] == [("Partner Gold", 4)]
    with django_assert_max_num_queries(3):
        keys = list(key_list(user=admin_user))
        usage_summaries(keys)
        assert {k.partner.name for k in keys} == {"Optus"}


@pytest.mark.parametrize("role", DENIED_ROLES)
def test_selectors_refuse_non_admins(role: str, request: pytest.FixtureRequest, plan: UsagePlan) -> None:
    user = request.getfixturevalue(role)
    for selector in (partner_list, plan_list, key_list, plan_limit_warning):
        with pytest.raises(AccessDenied):
            selector(user=user)


def test_plan_limit_warning_near_and_at_300(plan: UsagePlan, admin_user: User) -> None:
    assert plan_limit_warning(user=admin_user) is None
    UsagePlan.objects.bulk_create(
        UsagePlan(name=f"p{n}", rate_limit=1, burst_limit=1, api_stages=["meridian:local"])
        for n in range(279)
    )
    assert "280 of API Gateway's 300" in (plan_limit_warning(user=admin_user) or "")
    UsagePlan.objects.bulk_create(
        UsagePlan(name=f"q{n}", rate_limit=1, burst_limit=1, api_stages=["meridian:local"]) for n in range(20)
    )
    assert "allows 300 per region" in (plan_limit_warning(user=admin_user) or "")


def test_fresh_plan_update_with_the_same_values_changes_nothing(plan: UsagePlan, admin_user: User) -> None:
    fresh = UsagePlan.objects.get(pk=plan.pk)
    plan_update(actor=admin_user, plan=fresh, data=plan_input())
    from portal.audit.models import AuditEntry

    assert not AuditEntry.objects.filter(action="usage_plan.update").exists()
