"""The scheduled access-log import (`partners_traffic import-due`), on botocore's Stubber.

It reads bounded windows from where the last import stopped, remembers how far it got, and
re-reading a window (a re-read margin, a retry, an overlapping run) never double counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from django.core.management import CommandError, call_command

from accounts.partners.gateway.logs_insights import LogsQueryError
from accounts.partners.models import PartnerApiKey, TrafficHour, TrafficImportCursor, TrafficMinute
from accounts.partners.services import IssuedKey
from accounts.partners.traffic import services
from accounts.partners.traffic.services import IMPORT_SOURCE, traffic_import_due, traffic_samples_store
from tests.partners.test_logs_insights import (
    GATEWAY_KEY_ID,
    complete,
    expect_query,
    log_row,
    reader,
)
from tests.partners.test_traffic import EXPECTED_FEED, minutes_table
from tests.partners.traffic_support import FEED, MINUTE, STAGE, hand_computed_minute

# The run's clock: the target (now less the 2-minute lag) is MINUTE + 13 minutes.
NOW = MINUTE + timedelta(minutes=15, seconds=42)
TARGET = MINUTE + timedelta(minutes=13)


@pytest.fixture
def logs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "logs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def logged_key(issue: Callable[..., IssuedKey]) -> PartnerApiKey:
    issued = issue().key
    issued.gateway_id = GATEWAY_KEY_ID
    issued.save(update_fields=["gateway_id"])
    return issued


def cursor() -> Any:
    return TrafficImportCursor.objects.get(source=IMPORT_SOURCE).imported_until


def test_a_first_run_reads_bounded_windows_and_remembers_where_it_stopped(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    rows = [log_row(r) for r in hand_computed_minute(logged_key.pk)]
    # given no import yet: it starts 15 minutes (+ 5 re-read) before the target, in 15-minute windows
    first = TARGET - timedelta(minutes=20)
    expect_query(stubber, "q-1", first, first + timedelta(minutes=15))
    stubber.add_response("get_query_results", complete(rows), {"queryId": "q-1"})
    expect_query(stubber, "q-2", first + timedelta(minutes=15), TARGET)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-2"})
    # when the scheduled import runs
    run = traffic_import_due(now=NOW, reader=reader(client))
    # then both windows were read, the figures are the hand-computed ones and the cursor is at the target
    assert (run.windows, run.buckets, run.start, run.behind) == (2, 4, first, False)
    assert minutes_table()[(logged_key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED
    assert cursor() == TARGET


def test_running_again_re_reads_the_last_minutes_and_changes_nothing(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    requests = hand_computed_minute(logged_key.pk)
    rows = [log_row(r) for r in requests]
    # given the minutes imported once, and the cursor just after them
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=MINUTE + timedelta(minutes=3))
    expect_query(stubber, "q-1", MINUTE - timedelta(minutes=2), TARGET)
    stubber.add_response("get_query_results", complete(rows), {"queryId": "q-1"})
    traffic_import_due(now=NOW, reader=reader(client))
    before = minutes_table()
    hours_before = list(TrafficHour.objects.values("method", "requests", "burst", "steady"))
    # when a retried run reads the same window again (the cursor set back by hand), and the next
    # scheduled run re-reads its last 5 minutes
    rewound = MINUTE + timedelta(minutes=3)
    TrafficImportCursor.objects.filter(source=IMPORT_SOURCE).update(imported_until=rewound)
    expect_query(stubber, "q-2", MINUTE - timedelta(minutes=2), TARGET)
    stubber.add_response("get_query_results", complete(rows), {"queryId": "q-2"})
    traffic_import_due(now=NOW, reader=reader(client))
    expect_query(stubber, "q-3", TARGET - timedelta(minutes=5), TARGET)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-3"})
    again = traffic_import_due(now=NOW, reader=reader(client))
    # then nothing was counted twice
    assert minutes_table() == before
    assert list(TrafficHour.objects.values("method", "requests", "burst", "steady")) == hours_before
    assert before[(logged_key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED
    assert (again.windows, again.buckets, again.imported_until) == (1, 0, TARGET)


def test_the_scheduled_import_and_local_recording_give_the_same_rollups(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    requests = hand_computed_minute(logged_key.pk)
    traffic_samples_store(requests=requests)
    local = minutes_table()
    TrafficMinute.objects.all().delete()
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=MINUTE)
    expect_query(stubber, "q-1", MINUTE - timedelta(minutes=5), MINUTE + timedelta(minutes=10))
    stubber.add_response("get_query_results", complete([log_row(r) for r in requests]), {"queryId": "q-1"})
    expect_query(stubber, "q-2", MINUTE + timedelta(minutes=10), TARGET)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-2"})
    traffic_import_due(now=NOW, reader=reader(client))
    assert minutes_table() == local


def test_a_failed_query_keeps_the_cursor_at_the_last_window_imported(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    start = MINUTE - timedelta(minutes=20)
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=start + timedelta(minutes=5))
    expect_query(stubber, "q-1", start, start + timedelta(minutes=15))
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-1"})
    expect_query(stubber, "q-2", start + timedelta(minutes=15), start + timedelta(minutes=30))
    stubber.add_response("get_query_results", {"results": [], "status": "Failed"}, {"queryId": "q-2"})
    with pytest.raises(LogsQueryError, match="Failed"):
        traffic_import_due(now=NOW, reader=reader(client))
    assert cursor() == start + timedelta(minutes=15)


def test_a_run_far_behind_stops_after_its_windows_and_says_it_is_behind(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    start = TARGET - timedelta(hours=3)
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=start + timedelta(minutes=5))
    for n in range(2):
        window = start + timedelta(minutes=15 * n)
        expect_query(stubber, f"q-{n}", window, window + timedelta(minutes=15))
        stubber.add_response("get_query_results", complete([]), {"queryId": f"q-{n}"})
    run = traffic_import_due(now=NOW, reader=reader(client), max_windows=2)
    assert (run.windows, run.behind, run.imported_until) == (2, True, start + timedelta(minutes=30))
    assert cursor() == start + timedelta(minutes=30)


def test_the_time_budget_stops_new_windows_but_always_reads_one(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    start = TARGET - timedelta(hours=1)
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=start + timedelta(minutes=5))
    expect_query(stubber, "q-1", start, start + timedelta(minutes=15))
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-1"})
    # a clock on which every reading is 100 s later than the one before
    ticks = iter(range(0, 10_000, 100))
    run = traffic_import_due(now=NOW, reader=reader(client), budget_seconds=60, clock=lambda: next(ticks))
    assert (run.windows, run.behind) == (1, True)


def test_a_late_overlapping_run_never_moves_the_cursor_back(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    # given another run already got further than this one's target
    ahead = TARGET + timedelta(minutes=3)
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=ahead)
    expect_query(stubber, "q-1", ahead - timedelta(minutes=5), TARGET)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-1"})
    traffic_import_due(now=NOW, reader=reader(client))
    assert cursor() == ahead


def test_a_cursor_older_than_the_minute_retention_restarts_at_the_retention(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    TrafficImportCursor.objects.create(source=IMPORT_SOURCE, imported_until=TARGET - timedelta(days=30))
    oldest = TARGET - timedelta(days=14)
    expect_query(stubber, "q-1", oldest, oldest + timedelta(minutes=15))
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-1"})
    run = traffic_import_due(now=NOW, reader=reader(client), max_windows=1)
    assert run.start == oldest and cursor() == oldest + timedelta(minutes=15)


def test_the_command_reports_the_run_and_a_query_error_is_a_command_error(
    logged_key: PartnerApiKey, logs: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    client, stubber = logs
    settings.PARTNER_ACCESS_LOG_GROUPS = ["API-Gateway-Execution-Logs_meridian/prod-access"]
    monkeypatch.setattr(services.LogsInsightsReader, "client", property(lambda self: client))
    # a first run reads 20 minutes: two windows
    for query in ("q-1a", "q-1b"):
        stubber.add_response("start_query", {"queryId": query})
        stubber.add_response("get_query_results", complete([]), {"queryId": query})
    out: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    call_command("partners_traffic", "import-due", stdout=Sink())
    assert "Access logs imported from" in "".join(out) and "2 window(s), 0 key-minutes." in "".join(out)
    stubber.add_response("start_query", {"queryId": "q-2"})
    stubber.add_response("get_query_results", {"results": [], "status": "Cancelled"}, {"queryId": "q-2"})
    with pytest.raises(CommandError, match="Cancelled"):
        call_command("partners_traffic", "import-due")
