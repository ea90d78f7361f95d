"""The key traffic page, the Fit panel's Apply, and the traffic REST API: who may, and what they see."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.partners.models import PartnerApiKey, TrafficHour, TrafficMinute, UsagePlan
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import ALL_METHODS, Request, minute_of
from accounts.partners.traffic.selectors import traffic_plan_fit
from accounts.partners.traffic.services import traffic_ingest
from portal.audit.models import AuditEntry

DENIED_ROLES = ["editor", "au_editor", "au_manager", "reviewer", "nobody"]
FEED = "/feed/v1/{market}/GET"


@pytest.fixture
def key(issue: Callable[..., IssuedKey]) -> PartnerApiKey:
    return issue().key


def recent_traffic(key: PartnerApiKey, *, minutes: int = 30, per_second: int = 2, burst: int = 40) -> None:
    """`per_second` requests every second of the last `minutes` minutes, one burst a minute, one 429."""
    end = minute_of(datetime.now(UTC))
    start = end - timedelta(minutes=minutes)
    requests: list[Request] = []
    for m in range(minutes):
        minute = start + timedelta(minutes=m)
        for second in range(60):
            count = burst if second == 30 else per_second
            for n in range(count):
                requests.append(
                    Request(
                        request_id=f"{key.pk}-{m}-{second}-{n}",
                        key_id=key.pk,
                        stage="meridian:local",
                        method=FEED if n % 2 else "/partners/probe/GET",
                        at=minute + timedelta(seconds=second, milliseconds=n),
                        status=429 if (second == 30 and n == 0) else 200,
                        reason="throttle" if (second == 30 and n == 0) else "",
                        latency_ms=10.0 + n,
                    )
                )
    traffic_ingest(requests=requests, start=start, end=end)


def urls(key: PartnerApiKey) -> list[str]:
    return [
        reverse("partners:key-traffic", args=[key.pk]),
        reverse("partners:plan-fit", args=[key.plan_id]),
        reverse("partners:key-traffic-csv", args=[key.pk]),
        reverse("partners:key-traffic-data", args=[key.pk]),
        reverse("api-partner-traffic-minutes") + f"?key={key.pk}",
        reverse("api-partner-traffic-hours") + f"?key={key.pk}",
        reverse("api-partner-traffic-recommendations"),
    ]


# --- who may ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", DENIED_ROLES)
def test_other_roles_are_refused_the_page_the_apply_and_the_api(
    role: str, request: pytest.FixtureRequest, key: PartnerApiKey
) -> None:
    recent_traffic(key, minutes=2)
    client = Client()
    client.force_login(request.getfixturevalue(role))
    for url in urls(key):
        assert client.get(url).status_code == 403, url
    answer = client.post(reverse("partners:key-traffic-apply", args=[key.pk]), {"rate": 1, "burst": 1})
    assert answer.status_code == 403
    answer = client.post(reverse("partners:plan-fit-apply", args=[key.plan_id]), {"rate": 1, "burst": 1})
    assert answer.status_code == 403
    key.plan.refresh_from_db()
    assert key.plan.rate_limit == Decimal("50") and key.plan.burst_limit == 500
    assert not AuditEntry.objects.filter(action="usage_plan.update").exists()


def test_anonymous_visitors_are_refused(key: PartnerApiKey) -> None:
    client = Client()
    page = client.get(reverse("partners:key-traffic", args=[key.pk]))
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    apply = client.post(reverse("partners:key-traffic-apply", args=[key.pk]), {"rate": 1, "burst": 1})
    assert apply.status_code == 302 and apply["Location"].startswith(reverse("login"))
    for url in urls(key)[1:4]:
        page = client.get(url)
        assert page.status_code == 302 and page["Location"].startswith(reverse("login")), url
    for url in urls(key)[4:]:
        assert client.get(url).status_code in (401, 403), url


# --- the page --------------------------------------------------------------------------------------
def test_admin_sees_chart_table_and_fit_with_evidence(
    admin_client: Client, key: PartnerApiKey, django_assert_max_num_queries: Any
) -> None:
    recent_traffic(key)
    with django_assert_max_num_queries(12):
        answer = admin_client.get(reverse("partners:key-traffic", args=[key.pk]))
    html = answer.content.decode()
    assert answer.status_code == 200
    data_url = reverse("partners:key-traffic-data", args=[key.pk]) + "?hours=6"
    assert f'id="traffic-chart" class="traffic-uplot" data-src="{data_url}"' in html
    assert "vendor/uplot/uPlot.iife.min.js" in html and "js/traffic-chart.js" in html
    # strict CSP: no style attributes, no inline scripts
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    # the all-methods minutes: 2/s steady, bursts of 40 over a plan burst of 500 (none over)
    assert "p95 steady 2 rps, peak burst 40 in the last 30 days" in html
    assert "rate 3/s, burst 44" in html
    assert html.count("<tr><td>") >= 30


def test_the_key_page_links_to_its_traffic(admin_client: Client, key: PartnerApiKey) -> None:
    html = admin_client.get(reverse("partners:key-detail", args=[key.pk])).content.decode()
    assert reverse("partners:key-traffic", args=[key.pk]) in html


def test_an_empty_key_says_there_is_nothing_to_judge(admin_client: Client, key: PartnerApiKey) -> None:
    html = admin_client.get(reverse("partners:key-traffic", args=[key.pk])).content.decode()
    assert "No traffic recorded yet" in html and "No requests in this window" in html


def test_bad_hours_fall_back_to_the_default(admin_client: Client, key: PartnerApiKey) -> None:
    for hours in ("0", "x", "99999", "336"):
        assert (
            admin_client.get(reverse("partners:key-traffic", args=[key.pk]) + f"?hours={hours}").status_code
            == 200
        )


# --- the Fit and Apply -----------------------------------------------------------------------------
def test_fit_counts_minutes_over_the_rate_and_burst(
    key: PartnerApiKey, admin_user: User, make_plan: Any
) -> None:
    # given a plan of 1/s and burst 10, and 20 minutes at 2/s with bursts of 40
    tight = make_plan(name="Tight", rate_limit=1, burst_limit=10)
    PartnerApiKey.objects.filter(pk=key.pk).update(plan=tight)
    key.refresh_from_db()
    recent_traffic(key, minutes=20)
    fit = traffic_plan_fit(user=admin_user, key=key)
    assert (fit.minutes, fit.minutes_over_rate, fit.minutes_over_burst) == (20, 20, 20)
    assert (fit.p95_steady, fit.peak_burst, fit.throttled) == (2, 40, 20)
    assert (fit.rate, fit.burst) == (3, 44)
    # 20 minutes of (59 × 2 + 40) requests, judged as one day, × 31 days × 1.2
    assert fit.requests == 20 * 158
    assert fit.quota_limit == int(-(-20 * 158 * 31 * 1.2 // 1))


def test_apply_goes_through_the_plan_service_audited_and_synced(
    admin_client: Client, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse("partners:key-traffic-apply", args=[key.pk]),
            {"rate": 60, "burst": 700, "quota_limit": 90000},
        )
    assert answer.status_code == 302
    plan = UsagePlan.objects.get(pk=key.plan_id)
    assert (plan.rate_limit, plan.burst_limit, plan.quota_limit, plan.quota_period) == (
        Decimal("60"),
        700,
        90000,
        "MONTH",
    )
    assert plan.sync_state == "synced"
    entry = AuditEntry.objects.get(action="usage_plan.update")
    assert entry.actor is not None and entry.actor.username == "admin"


def test_apply_refuses_bad_values_and_changes_nothing(admin_client: Client, key: PartnerApiKey) -> None:
    answer = admin_client.post(
        reverse("partners:key-traffic-apply", args=[key.pk]), {"rate": 0, "burst": 9000}
    )
    assert answer.status_code == 400
    assert UsagePlan.objects.get(pk=key.plan_id).burst_limit == 500
    assert not AuditEntry.objects.filter(action="usage_plan.update").exists()


# --- the API ---------------------------------------------------------------------------------------
def test_minutes_api_filters_by_key_method_and_time_and_pages_by_cursor(
    admin_client: Client, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    first, second = issue().key, issue(name="Other app").key
    recent_traffic(first, minutes=30)
    recent_traffic(second, minutes=5)
    url = reverse("api-partner-traffic-minutes")
    with django_assert_max_num_queries(6):
        page = admin_client.get(url, {"key": first.pk, "method": ALL_METHODS, "page_size": 10}).json()
    assert len(page["results"]) == 10 and page["next"]
    assert {row["key"] for row in page["results"]} == {first.pk}
    assert {row["method"] for row in page["results"]} == {ALL_METHODS}
    minutes = [row["minute"] for row in page["results"]]
    assert minutes == sorted(minutes, reverse=True)
    seen = set(minutes)
    nxt = page["next"]
    while nxt:
        page = admin_client.get(nxt).json()
        seen |= {row["minute"] for row in page["results"]}
        nxt = page["next"]
    assert len(seen) == 30
    since = (minute_of(datetime.now(UTC)) - timedelta(minutes=3)).isoformat()
    recent = admin_client.get(url, {"key": second.pk, "method": FEED, "since": since}).json()["results"]
    assert len(recent) == 3
    assert TrafficMinute.objects.count() == 3 * 35


@pytest.mark.parametrize(
    "query",
    [{"since": "yesterday"}, {"key": "x"}, {"since": "2026-03-02T00:00Z", "until": "2026-03-01T00:00Z"}],
)
def test_minutes_api_refuses_bad_filters(
    admin_client: Client, key: PartnerApiKey, query: dict[str, str]
) -> None:
    assert admin_client.get(reverse("api-partner-traffic-minutes"), query).status_code == 400


def test_minutes_api_unknown_key_is_404(admin_client: Client, db: None) -> None:
    assert admin_client.get(reverse("api-partner-traffic-minutes"), {"key": 999}).status_code == 404


def test_recommendations_api_has_evidence_and_no_n_plus_1(
    admin_client: Client, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    keys = [issue(name=f"App {n}").key for n in range(5)]
    for key in keys:
        recent_traffic(key, minutes=3)
    with django_assert_max_num_queries(6):
        data = admin_client.get(reverse("api-partner-traffic-recommendations")).json()
    assert len(data["results"]) == 5
    row = data["results"][0]
    assert row["evidence"].startswith("p95 steady 2 rps, peak burst 40 in the last 30 days")
    assert (row["rate"], row["burst"], row["quota_period"]) == (3, 44, "MONTH")
    one = admin_client.get(reverse("api-partner-traffic-recommendations"), {"key": keys[0].pk}).json()
    assert [r["key"] for r in one["results"]] == [keys[0].pk]


def test_hours_api_filters_by_key_method_and_time_and_pages_by_cursor(
    admin_client: Client, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    first, second = issue().key, issue(name="Other app").key
    recent_traffic(first, minutes=3)
    recent_traffic(second, minutes=3)
    hours = sorted(set(TrafficHour.objects.filter(key=first).values_list("hour", flat=True)))
    url = reverse("api-partner-traffic-hours")
    with django_assert_max_num_queries(6):
        page = admin_client.get(url, {"key": first.pk, "method": ALL_METHODS, "page_size": 1}).json()
    assert [row["key"] for row in page["results"]] == [first.pk]
    assert page["results"][0]["method"] == ALL_METHODS
    seen = [page["results"][0]["hour"]]
    while page["next"]:
        page = admin_client.get(page["next"]).json()
        seen += [row["hour"] for row in page["results"]]
    assert len(seen) == len(hours) and seen == sorted(seen, reverse=True)
    later = (hours[-1] + timedelta(hours=1)).isoformat()
    assert admin_client.get(url, {"key": first.pk, "since": later}).json()["results"] == []
    until = admin_client.get(url, {"key": first.pk, "method": FEED, "until": hours[0].isoformat()}).json()
    assert until["results"] == []
    one = admin_client.get(url, {"key": second.pk, "method": FEED}).json()["results"]
    assert {row["key"] for row in one} == {second.pk} and sum(row["requests"] for row in one) == 3 * (59 + 20)
    assert admin_client.get(url, {"since": "0001-01-01T00:00:00+14:00"}).status_code == 400
    assert admin_client.get(url, {"key": 2**40}).status_code == 400


def test_recommendations_api_filters_by_plan(
    admin_client: Client, issue: Callable[..., IssuedKey], make_plan: Any
) -> None:
    other_plan = make_plan(name="Partner Silver")
    gold, silver = issue().key, issue(name="Silver app", plan=other_plan).key
    url = reverse("api-partner-traffic-recommendations")
    assert [r["key"] for r in admin_client.get(url, {"plan": other_plan.pk}).json()["results"]] == [silver.pk]
    assert [r["key"] for r in admin_client.get(url, {"plan": gold.plan_id}).json()["results"]] == [gold.pk]
    assert admin_client.get(url, {"plan": "x"}).status_code == 400


# --- a plan's Fit ----------------------------------------------------------------------------------
def test_the_plan_fit_lists_every_key_and_recommends_for_the_busiest(
    admin_client: Client, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    busy, calm = issue().key, issue(name="Calm app").key
    recent_traffic(busy, minutes=10, per_second=4, burst=80)
    recent_traffic(calm, minutes=10)
    for n in range(3):
        issue(name=f"Idle {n}")
    with django_assert_max_num_queries(12):
        answer = admin_client.get(reverse("partners:plan-fit", args=[busy.plan_id]))
    html = answer.content.decode()
    assert answer.status_code == 200
    assert html.count('href="/partners/keys/') >= 5
    # the busy key: 4/s steady → 5/s; bursts of 80 → 88; the plan takes the higher of the two keys
    assert "p95 steady 4 rps, peak burst 80 in the last 30 days" in html
    assert 'name="rate" value="5"' in html and 'name="burst" value="88"' in html


def test_applying_the_plan_fit_is_the_plan_editors_change(
    admin_client: Client, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse("partners:plan-fit-apply", args=[key.plan_id]), {"rate": 3, "burst": 44}
        )
    assert answer.status_code == 302
    assert answer["Location"] == reverse("partners:plan-fit", args=[key.plan_id])
    plan = UsagePlan.objects.get(pk=key.plan_id)
    assert (plan.rate_limit, plan.burst_limit, plan.quota_limit) == (Decimal("3"), 44, 20_000)
    assert AuditEntry.objects.filter(action="usage_plan.update").count() == 1
    bad = admin_client.post(reverse("partners:plan-fit-apply", args=[key.plan_id]), {"rate": 0, "burst": 44})
    assert bad.status_code == 400
    assert AuditEntry.objects.filter(action="usage_plan.update").count() == 1


def test_the_key_page_shows_refusals_by_method(admin_client: Client, key: PartnerApiKey) -> None:
    recent_traffic(key, minutes=2)
    html = admin_client.get(reverse("partners:key-traffic", args=[key.pk])).content.decode()
    assert 'id="methods"' in html and "Refused minutes by method" in html
    assert 'id="forecast"' in html and "used this month" in html
    # the 429 of each minute's burst is request 0 of second 30: the probe (even request numbers)
    assert html.count("<td><code>/partners/probe/GET</code></td><td>1</td><td>0</td><td>20</td>") == 2


def test_the_csv_has_the_tables_figures_for_every_minute_and_method(
    admin_client: Client, key: PartnerApiKey, django_assert_max_num_queries: Any
) -> None:
    recent_traffic(key, minutes=3)
    with django_assert_max_num_queries(8):
        answer = admin_client.get(reverse("partners:key-traffic-csv", args=[key.pk]), {"hours": 1})
    assert answer.status_code == 200 and answer["Content-Type"] == "text/csv; charset=utf-8"
    lines = answer.content.decode().splitlines()
    assert lines[0].startswith("minute,stage,method,requests,steady,burst,")
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 3 * 3  # all methods, the feed and the probe, per minute
    all_methods = [row for row in rows if row[2] == ALL_METHODS]
    # 59 seconds of 2 and one of 40: 158 requests, steady 2, burst 40, one throttled
    assert [row[3:6] for row in all_methods] == [["158", "2", "40"]] * 3
    assert all(row[9] == "1" for row in all_methods)


def test_the_partner_page_sums_each_keys_traffic_in_a_bounded_number_of_queries(
    admin_client: Client, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    busy = issue().key
    recent_traffic(busy, minutes=3)
    for n in range(3):
        issue(name=f"Quiet {n}")
    with django_assert_max_num_queries(14):
        answer = admin_client.get(reverse("partners:detail", args=[busy.partner_id]))
    html = answer.content.decode()
    assert answer.status_code == 200 and "Traffic, last 24 hours" in html
    # 3 minutes of 158 requests, steady 2, burst 40, one throttled a minute
    row = re.search(rf'traffic/">{busy.name}</a>.*?</tr>', html)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(0)) == ["474", "2", "40", "3", "0", "0"]
    assert html.count('<td class="num">0</td><td class="num">0</td><td class="num">0</td>') >= 3


def test_the_chart_data_has_each_methods_rate_the_burst_and_the_limits(
    admin_client: Client, key: PartnerApiKey, django_assert_max_num_queries: Any
) -> None:
    UsagePlan.objects.filter(pk=key.plan_id).update(
        method_throttles={"meridian:local": {FEED: {"rate": 5.0, "burst": 20}}}
    )
    recent_traffic(key, minutes=3)
    with django_assert_max_num_queries(8):
        data = admin_client.get(reverse("partners:key-traffic-data", args=[key.pk]), {"hours": 1}).json()
    start = minute_of(datetime.now(UTC)) - timedelta(minutes=3)
    assert data["t"] == [int((start + timedelta(minutes=m)).timestamp()) for m in range(3)]
    assert data["end"] - data["start"] == 3600
    assert (data["rate"], data["burst_limit"]) == (50.0, 500)
    assert [s["method"] for s in data["series"]] == [ALL_METHODS, FEED, "/partners/probe/GET"]
    everything = data["series"][0]
    # 158 requests a minute: 2.633/s; bursts of 40; one 429 a minute: 0.017/s
    assert everything["rps"] == [2.633] * 3 and everything["burst"] == [40] * 3
    assert everything["refused"] == [0.017] * 3
    assert data["series"][1]["rps"] == [round(79 / 60, 3)] * 3 and "burst" not in data["series"][1]
    assert data["throttles"] == [{"method": FEED, "stage": "meridian:local", "rate": 5.0, "burst": 20}]
