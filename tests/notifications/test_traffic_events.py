"""Partner traffic alerts as notification events: throttled minutes, bursts near the limit, jumps.

Each fires once per occurrence (the checks run twice), carries the partner, links to the key's
traffic page and reaches admins only. Rollups are written directly, with figures chosen by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.partners.models import PartnerApiKey, TrafficHour, TrafficMinute, UsagePlan
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import ALL_METHODS
from portal.notifications.models import EventKind, Notification, Receipt
from portal.notifications.services import notifications_detect
from tests.notifications.conftest import T0

STAGE = "meridian:local"
FEED = "/feed/v1/{market}/GET"


@pytest.fixture
def everyone(admin_user: User, editor: User, au_manager: User, reviewer: User, nobody: User) -> None:
    """Users of every role, so each test can say who received an event."""


def detect_twice(now: datetime = T0) -> list[Notification]:
    first = notifications_detect(now=now)
    assert notifications_detect(now=now) == [], "a second run raised the same occurrences again"
    return first


def minutes(
    key: PartnerApiKey,
    count: int,
    *,
    throttled: int = 0,
    burst: int = 10,
    method: str = ALL_METHODS,
    end: datetime = T0,
) -> None:
    """`count` minutes ending just before `end`; the first `throttled` of them with 429s."""
    for n in range(count):
        TrafficMinute.objects.create(
            key=key,
            stage=STAGE,
            method=method,
            minute=end - timedelta(minutes=count - n),
            requests=120,
            steady=2,
            burst=burst,
            throttled=5 if n < throttled else 0,
        )


def hours(key: PartnerApiKey, *, last: int, week: int, week_hours: int) -> None:
    """The last complete hour before T0 with `last` requests; `week_hours` hours of `week` each before it."""
    last_hour = T0.replace(minute=0) - timedelta(hours=1)
    TrafficHour.objects.create(key=key, stage=STAGE, method=ALL_METHODS, hour=last_hour, requests=last)
    for n in range(1, week_hours + 1):
        TrafficHour.objects.create(
            key=key, stage=STAGE, method=ALL_METHODS, hour=last_hour - timedelta(hours=n), requests=week
        )


def recipients(notification: Notification) -> set[str]:
    return set(Receipt.objects.filter(notification=notification).values_list("user__username", flat=True))


@pytest.mark.usefixtures("everyone")
def test_a_key_throttled_in_more_than_10_percent_of_its_minutes_fires_once_a_day(
    issue: Callable[..., IssuedKey],
) -> None:
    # given 20 minutes in the last hour, 3 of them throttled (15 %), and two keys that stay quiet:
    # 1 of 20 (5 %) and 5 throttled minutes of 5 (fewer than the 10 minutes judged)
    key = issue().key
    minutes(key, 20, throttled=3)
    minutes(issue(name="Calm").key, 20, throttled=1)
    minutes(issue(name="Brief").key, 5, throttled=5)
    [fired] = detect_twice()
    assert fired.kind == EventKind.TRAFFIC_THROTTLED
    assert fired.occurrence_key == f"traffic_throttled:{key.pk}:{T0:%Y-%m-%d}"
    assert fired.title == "Optus's key Optus TV app was throttled in 15 % of its minutes"
    assert "15 requests were refused as throttled (429), in 3 of 20 active minutes" in fired.body
    assert fired.link == reverse("partners:key-traffic", args=[key.pk])
    assert fired.partner_id == key.partner_id and recipients(fired) == {"admin"}
    # later the same day it is the same occurrence; the next day a new one
    assert detect_twice(T0 + timedelta(minutes=5)) == []
    tomorrow = T0 + timedelta(days=1)
    minutes(key, 20, throttled=3, end=tomorrow)
    [next_day] = detect_twice(tomorrow)
    assert next_day.occurrence_key == f"traffic_throttled:{key.pk}:{tomorrow:%Y-%m-%d}"


@pytest.mark.usefixtures("everyone")
def test_a_burst_near_the_plan_or_a_method_throttle_fires_with_its_minute(
    issue: Callable[..., IssuedKey], plan: UsagePlan
) -> None:
    # given a plan of burst 500 with a per-method throttle of burst 20 on the feed
    UsagePlan.objects.filter(pk=plan.pk).update(method_throttles={STAGE: {FEED: {"rate": 5.0, "burst": 20}}})
    key = issue().key
    # all methods: one minute at 460 of 500 (92 %); the feed: 19 of 20 (95 %)
    minutes(key, 3, burst=100)
    TrafficMinute.objects.filter(key=key, minute=T0 - timedelta(minutes=2)).update(burst=460)
    minutes(key, 3, burst=19, method=FEED)
    # another key at 88 % stays quiet
    minutes(issue(name="Calm").key, 3, burst=440)
    fired = sorted(detect_twice(), key=lambda n: n.occurrence_key)
    assert [n.kind for n in fired] == [EventKind.TRAFFIC_BURST] * 2
    all_methods, feed = fired
    assert all_methods.occurrence_key == f"traffic_burst:{key.pk}:*:{T0:%Y-%m-%d}"
    assert all_methods.title == "Optus's key Optus TV app burst to 460 of 500 (all methods)"
    assert f"At {T0 - timedelta(minutes=2):%Y-%m-%d %H:%M} UTC" in all_methods.body
    assert feed.data == {
        "key_id": key.pk,
        "method": FEED,
        "minute": (T0 - timedelta(minutes=3)).isoformat(),
        "burst": 19,
        "limit": 20,
    }
    assert recipients(feed) == {"admin"}


@pytest.mark.usefixtures("everyone")
def test_an_hour_far_above_the_keys_past_week_fires(issue: Callable[..., IssuedKey]) -> None:
    # given 48 hours of 500 requests in the week before (a mean of 24,000 / 168 ≈ 143 an hour)
    # and 2,000 in the last hour (14 ×)
    key = issue().key
    hours(key, last=2_000, week=500, week_hours=48)
    # quiet: a key with only 10 hours of history, and one whose jump is under 1,000 requests
    hours(issue(name="New").key, last=5_000, week=10, week_hours=10)
    hours(issue(name="Small").key, last=900, week=10, week_hours=48)
    [fired] = detect_twice()
    assert fired.kind == EventKind.TRAFFIC_JUMP
    last_hour = T0.replace(minute=0) - timedelta(hours=1)
    assert fired.occurrence_key == f"traffic_jump:{key.pk}:{last_hour:%Y-%m-%d}"
    assert fired.title == "Optus's key Optus TV app made 2,000 requests in an hour, 14.0 × its usual"
    assert fired.data["weekly_mean"] == 142.9
    assert recipients(fired) == {"admin"}


@pytest.mark.usefixtures("everyone")
def test_traffic_checks_read_in_a_bounded_number_of_queries(
    issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        key = issue(name=f"App {n}").key
        minutes(key, 12, throttled=6, burst=480)
        hours(key, last=5_000, week=100, week_hours=30)
    from portal.notifications.checks import partner_traffic

    with django_assert_max_num_queries(4):
        found = list(partner_traffic(T0))
    assert sorted({o.kind for o in found}) == sorted(
        [EventKind.TRAFFIC_THROTTLED, EventKind.TRAFFIC_BURST, EventKind.TRAFFIC_JUMP]
    )
    assert len(found) == 15
