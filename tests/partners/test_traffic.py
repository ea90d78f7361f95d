"""Partner traffic rollups: hand-computed figures, idempotent writes, hours, retention, recording, demo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.partners.demo import load_partner_demo, load_traffic_demo
from accounts.partners.models import PartnerApiKey, TrafficHour, TrafficMinute, TrafficSample
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import (
    ALL_METHODS,
    Figures,
    hour_figures,
    minute_figures,
    percentile,
)
from accounts.partners.traffic.recorder import TrafficRecorder, get_recorder
from accounts.partners.traffic.services import (
    traffic_ingest,
    traffic_prune,
    traffic_rollup,
    traffic_samples_store,
)
from tests.partners.traffic_support import FEED, MINUTE, PROBE, STAGE, hand_computed_minute

FIELDS = list(Figures.__dataclass_fields__)


def minutes_table() -> dict[tuple[int, str, str, datetime], dict[str, Any]]:
    return {
        (row["key_id"], row["stage"], row["method"], row["minute"]): {f: row[f] for f in FIELDS}
        for row in TrafficMinute.objects.values("key_id", "stage", "method", "minute", *FIELDS)
    }


EXPECTED_FEED = {
    "requests": 15,
    "burst": 10,
    # 60 per-second counts: 56 zeros, 1, 1, 3, 10; the 57th smallest (nearest-rank p95) is 1.
    "steady": 1,
    "ok": 11,
    "client_errors": 1,
    "server_errors": 1,
    "throttled": 2,
    "quota_refused": 0,
    "latency_p50": 8.0,
    "latency_p99": 15.0,
}


# --- the aggregation, by hand --------------------------------------------------------------------
def test_minute_figures_match_hand_computed_values() -> None:
    figures = minute_figures(hand_computed_minute(7))
    assert asdict(figures[(7, STAGE, FEED, MINUTE)]) == EXPECTED_FEED
    assert asdict(figures[(7, STAGE, ALL_METHODS, MINUTE)]) == EXPECTED_FEED
    probe = figures[(7, STAGE, PROBE, MINUTE + timedelta(minutes=1))]
    assert (probe.requests, probe.burst, probe.quota_refused, probe.throttled, probe.ok) == (2, 2, 1, 0, 1)


def test_steady_rate_is_the_p95_of_per_second_counts() -> None:
    # given 5 requests in each of the minute's 60 seconds, and 40 in one of them
    requests = hand_computed_minute(1)[:0]
    base = [r for r in hand_computed_minute(1) if r.method == FEED][0]
    n = 0
    for second in range(60):
        for _ in range(40 if second == 10 else 5):
            n += 1
            requests.append(
                type(base)(
                    **{**asdict(base), "request_id": f"s{n}", "at": MINUTE + timedelta(seconds=second)}
                )
            )
    figures = minute_figures(requests)[(1, STAGE, FEED, MINUTE)]
    # then the burst is the one busy second and the steady rate ignores it
    assert (figures.requests, figures.burst, figures.steady) == (335, 40, 5)


def test_a_request_id_seen_twice_counts_once() -> None:
    requests = hand_computed_minute(1)
    assert minute_figures(requests + requests) == minute_figures(requests)


def test_percentile_edges() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([5], 50) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99.0


def test_hour_figures_sum_and_take_maxima() -> None:
    a = Figures(10, 4, 2, 9, 1, 0, 0, 0, 10.0, 40.0)
    b = Figures(30, 9, 3, 20, 0, 1, 6, 3, 20.0, 90.0)
    assert hour_figures([a, b]) == Figures(40, 9, 3, 29, 1, 1, 6, 3, 17.5, 90.0)
    assert hour_figures([]) == Figures(0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0)


# --- writes ----------------------------------------------------------------------------------------
def test_stored_samples_roll_up_to_the_hand_computed_minute(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    traffic_samples_store(requests=hand_computed_minute(key.pk))
    table = minutes_table()
    assert table[(key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED
    # only the feed in 12:00: its all-methods bucket holds the same figures
    assert table[(key.pk, STAGE, ALL_METHODS, MINUTE)] == EXPECTED_FEED
    assert len(table) == 4
    hours = {row.method: row for row in TrafficHour.objects.all()}
    assert hours[ALL_METHODS].requests == 17
    assert hours[FEED].requests == 15 and hours[FEED].burst == 10 and hours[PROBE].quota_refused == 1


def test_reading_a_window_again_never_double_counts(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    requests = hand_computed_minute(key.pk)
    # given the samples stored once and the window rolled up
    traffic_samples_store(requests=requests)
    once = minutes_table()
    hours_once = list(TrafficHour.objects.values("method", "requests", "burst"))
    # when the same samples arrive again, the window is rolled up again and ingested twice
    traffic_samples_store(requests=requests)
    traffic_rollup(start=MINUTE, end=MINUTE + timedelta(minutes=2))
    traffic_ingest(requests=requests, start=MINUTE, end=MINUTE + timedelta(minutes=2))
    traffic_ingest(requests=requests, start=MINUTE, end=MINUTE + timedelta(minutes=2))
    # then nothing is counted twice
    assert TrafficSample.objects.count() == len(requests)
    assert minutes_table() == once
    assert list(TrafficHour.objects.values("method", "requests", "burst")) == hours_once


def test_a_later_read_with_more_requests_replaces_the_minute(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    requests = [r for r in hand_computed_minute(key.pk) if r.method == FEED]
    traffic_ingest(requests=requests[:5], start=MINUTE, end=MINUTE + timedelta(minutes=1))
    traffic_ingest(requests=requests, start=MINUTE, end=MINUTE + timedelta(minutes=1))
    assert minutes_table()[(key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED
    assert TrafficHour.objects.get(method=FEED).requests == 15


def test_ingest_ignores_requests_outside_the_window(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    written = traffic_ingest(
        requests=hand_computed_minute(key.pk), start=MINUTE, end=MINUTE + timedelta(minutes=1)
    )
    assert written == 2  # the feed and its all-methods bucket
    assert set(TrafficMinute.objects.values_list("method", flat=True)) == {FEED, ALL_METHODS}


def test_prune_keeps_minutes_14_days_hours_400_days_samples_2_days(issue: Callable[..., IssuedKey]) -> None:
    key = issue().key
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for days in (15, 13):
        TrafficMinute.objects.create(key=key, stage=STAGE, method=FEED, minute=now - timedelta(days=days))
    for days in (401, 399):
        TrafficHour.objects.create(key=key, stage=STAGE, method=FEED, hour=now - timedelta(days=days))
    for days in (3, 1):
        TrafficSample.objects.create(
            request_id=f"x{days}", key=key, stage=STAGE, method=FEED, at=now - timedelta(days=days),
            status=200, latency_ms=1.0,
        )  # fmt: skip
    pruned = traffic_prune(now=now)
    assert (pruned.samples, pruned.minutes, pruned.hours) == (1, 1, 1)
    assert TrafficMinute.objects.get().minute == now - timedelta(days=13)
    assert TrafficHour.objects.get().hour == now - timedelta(days=399)
    assert TrafficSample.objects.get().request_id == "x1"


# --- local recording -------------------------------------------------------------------------------
def test_local_enforcement_records_every_known_key_request(
    issue: Callable[..., IssuedKey], make_plan: Callable[..., Any]
) -> None:
    # given a key on a plan with a burst of 2
    tight = make_plan(name="Tight", rate_limit=1, burst_limit=2, quota_limit=None, quota_period="")
    issued = issue(plan=tight)
    client = Client()
    # when it calls the probe four times (two admitted, two throttled) and a stranger calls once
    statuses = [client.get("/partners/probe/", HTTP_X_API_KEY=issued.secret).status_code for _ in range(4)]
    client.get("/partners/probe/", HTTP_X_API_KEY="not-a-key")
    stored = get_recorder().flush()
    # then the four requests of the key are in its rollup, by outcome
    assert statuses == [200, 200, 429, 429]
    assert stored == 4
    minute = TrafficMinute.objects.exclude(method=ALL_METHODS).get()
    assert (minute.key_id, minute.stage, minute.method) == (issued.key.pk, STAGE, "/partners/probe/GET")
    assert (minute.requests, minute.ok, minute.throttled, minute.quota_refused) == (4, 2, 2, 0)
    assert minute.burst >= 2 and minute.latency_p99 > 0
    assert TrafficHour.objects.get(method=ALL_METHODS).requests == 4


def test_recording_is_off_behind_api_gateway(issue: Callable[..., IssuedKey], settings: Any) -> None:
    issued = issue()
    settings.GATEWAY_BACKEND = "apigateway"
    Client().get("/partners/probe/", HTTP_X_API_KEY=issued.secret)
    assert get_recorder().flush() == 0


def test_a_failing_flush_loses_the_batch_but_not_the_request(
    issue: Callable[..., IssuedKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = issue()
    Client().get("/partners/probe/", HTTP_X_API_KEY=issued.secret)
    from accounts.partners.traffic import services

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "traffic_samples_insert", broken)
    assert get_recorder().flush() == 0
    assert get_recorder().flush() == 0  # the batch is gone, not retried forever


# --- the command and the demo ----------------------------------------------------------------------
def test_demo_traffic_is_realistic_and_loading_it_twice_changes_nothing(db: None) -> None:
    load_partner_demo(write=lambda _: None)
    call_command("partners_traffic", "demo", "--hours", "3", stdout=_Sink())
    first = minutes_table()
    call_command("partners_traffic", "demo", "--hours", "3", stdout=_Sink())
    # the clock moved on at most a minute: compare the minutes both runs wrote
    second = minutes_table()
    common = set(first) & set(second)
    assert len(common) >= len(first) - 2
    assert all(first[k] == second[k] for k in common)
    key = PartnerApiKey.objects.get(partner__name="Optus")
    rows = list(TrafficMinute.objects.filter(key=key))
    assert {row.method for row in rows} == {"/feed/v1/{market}/GET", "/partners/probe/GET", ALL_METHODS}
    assert sum(row.quota_refused for row in rows) > 0
    assert sum(row.client_errors for row in rows) > 0
    assert max(row.steady for row in rows) >= 2


def test_the_recorder_rolls_up_at_most_every_30_seconds_unless_flushed(
    issue: Callable[..., IssuedKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a recorder whose first rollup is done, and samples added within 30 s of it
    recorder = TrafficRecorder(flush_seconds=0.0)
    key = issue().key
    requests = hand_computed_minute(key.pk)
    recorder.add(requests[0])
    assert TrafficMinute.objects.filter(method=ALL_METHODS).get().requests == 1
    for request in requests[1:5]:
        recorder.add(request)
    # then they are stored but not rolled up yet
    assert TrafficSample.objects.count() == 5
    assert TrafficMinute.objects.filter(method=ALL_METHODS).get().requests == 1
    # until the next rollup is due, or an explicit flush
    recorder.rollup_seconds = 0.0
    recorder.add(requests[5])
    assert TrafficMinute.objects.filter(method=ALL_METHODS).get().requests == 6
    recorder.rollup_seconds = 3600.0
    for request in requests[6:]:
        recorder.add(request)
    recorder.flush()
    table = minutes_table()
    assert table[(key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED


def test_demo_traffic_is_not_regenerated_while_fresh(db: None) -> None:
    load_partner_demo(write=lambda _: None)
    assert load_traffic_demo(hours=1, fresh_for=timedelta(hours=1)) is not None
    assert load_traffic_demo(hours=1, fresh_for=timedelta(hours=1)) == 0


def test_import_logs_without_a_log_group_is_a_clear_error(db: None, settings: Any) -> None:
    settings.PARTNER_ACCESS_LOG_GROUPS = []
    with pytest.raises(CommandError, match="PARTNER_ACCESS_LOG_GROUPS"):
        call_command("partners_traffic", "import-logs", stdout=_Sink())


def test_command_rejects_bad_arguments(db: None) -> None:
    with pytest.raises(CommandError):
        call_command("partners_traffic", "demo", "--hours", "0", stdout=_Sink())
    with pytest.raises(CommandError, match="demo_data"):
        call_command("partners_traffic", "demo", "--hours", "1", stdout=_Sink())
    with pytest.raises(CommandError):
        call_command("partners_traffic", "rollup", "--minutes", "0", stdout=_Sink())


def test_prune_and_rollup_commands_run(issue: Callable[..., IssuedKey]) -> None:
    out = _Sink()
    call_command("partners_traffic", "prune", stdout=out)
    call_command("partners_traffic", "rollup", stdout=out)
    assert "Pruned 0 samples" in out.text


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
