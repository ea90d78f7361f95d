"""API Gateway access logs through Logs Insights, on botocore's Stubber (moto has no Logs Insights).

The responses are shaped like real ones (every cell a string, an @ptr per row, statistics) and
botocore validates them against the service model. The same requests recorded locally and read
from the logs give the same rollups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from accounts.partners.gateway import logs_insights
from accounts.partners.gateway.logs_insights import LogsInsightsReader, LogsQueryError, record_of
from accounts.partners.models import TrafficHour, TrafficMinute
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import Request
from accounts.partners.traffic.services import traffic_import_logs, traffic_samples_store
from tests.partners.test_traffic import EXPECTED_FEED, minutes_table
from tests.partners.traffic_support import FEED, MINUTE, STAGE, hand_computed_minute

LOG_GROUP = "API-Gateway-Execution-Logs_meridian/prod-access"
GATEWAY_KEY_ID = "k9x2ab7f1q"
RESPONSE_TYPES = {"throttle": "THROTTLED", "quota": "QUOTA_EXCEEDED"}


def log_row(request: Request, api_key_id: str = GATEWAY_KEY_ID) -> list[dict[str, str]]:
    """One result row as Logs Insights returns it for our access-log format."""
    api_id, stage = request.stage.split(":")
    resource, method = request.method.rsplit("/", 1)
    return [
        {"field": "requestId", "value": request.request_id},
        {"field": "apiId", "value": api_id},
        {"field": "apiKeyId", "value": api_key_id},
        {"field": "stage", "value": stage},
        {"field": "resourcePath", "value": resource},
        {"field": "httpMethod", "value": method},
        {"field": "status", "value": str(request.status)},
        {"field": "requestTime", "value": str(int(request.at.timestamp() * 1000))},
        {"field": "responseLatency", "value": f"{request.latency_ms:g}"},
        {"field": "responseType", "value": RESPONSE_TYPES.get(request.reason, "-")},
        {"field": "@ptr", "value": f"CmAKJwojMTIzNDU2Nzg5MDEyOkFQSS1HYXRld2F5{request.request_id}"},
    ]


def complete(rows: list[list[dict[str, str]]]) -> dict[str, Any]:
    return {
        "results": rows,
        "statistics": {
            "recordsMatched": float(len(rows)),
            "recordsScanned": 1500.0,
            "bytesScanned": 480000.0,
        },
        "status": "Complete",
    }


@pytest.fixture
def logs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "logs", region_name="ap-southeast-2", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_query(stubber: Stubber, query_id: str, start: datetime, end: datetime) -> None:
    stubber.add_response(
        "start_query",
        {"queryId": query_id},
        {
            "logGroupNames": [LOG_GROUP],
            # @timestamp is when the line was written: the range is wider, requestTime filters.
            "startTime": int(start.timestamp()) - 120,
            "endTime": int(end.timestamp()) + 120,
            "queryString": ANY,
            "limit": logs_insights.MAX_ROWS,
        },
    )


def reader(client: Any, **kwargs: Any) -> LogsInsightsReader:
    return LogsInsightsReader(log_groups=[LOG_GROUP], client=client, sleep=lambda _: None, **kwargs)


def test_logs_and_local_samples_give_the_same_rollups(
    issue: Callable[..., IssuedKey], logs: tuple[Any, Stubber]
) -> None:
    client, stubber = logs
    key = issue().key
    key.gateway_id = GATEWAY_KEY_ID
    key.save(update_fields=["gateway_id"])
    requests = hand_computed_minute(key.pk)
    start, end = MINUTE, MINUTE + timedelta(minutes=2)
    # given the requests recorded by the local enforcement
    traffic_samples_store(requests=requests)
    local = minutes_table()
    local_hours = list(TrafficHour.objects.values("method", "requests", "burst", "steady", "latency_p99"))
    TrafficMinute.objects.all().delete()
    TrafficHour.objects.all().delete()
    # when the same requests are read from the access logs (the query runs, then completes)
    expect_query(stubber, "q-1", start, end)
    stubber.add_response("get_query_results", {"results": [], "status": "Running"}, {"queryId": "q-1"})
    rows = [log_row(r) for r in requests] + [log_row(requests[0], api_key_id="someone-else")]
    stubber.add_response("get_query_results", complete(rows), {"queryId": "q-1"})
    written = traffic_import_logs(start=start, end=end, reader=reader(client))
    # then the rollups are the same, figure for figure
    assert written == 4  # the feed and the probe, each with its minute's all-methods bucket
    assert minutes_table() == local
    assert local[(key.pk, STAGE, FEED, MINUTE)] == EXPECTED_FEED
    assert (
        list(TrafficHour.objects.values("method", "requests", "burst", "steady", "latency_p99"))
        == local_hours
    )


def test_the_query_asks_for_the_exact_window_in_request_time(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    start, end = MINUTE, MINUTE + timedelta(minutes=5)
    expect_query(stubber, "q-2", start, end)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-2"})
    captured: list[str] = []
    client.meta.events.register(
        "provide-client-params.logs.StartQuery", lambda params, **_: captured.append(params["queryString"])
    )
    assert reader(client).read(start, end) == []
    start_ms = int(start.timestamp() * 1000)
    assert f"requestTime >= {start_ms}" in captured[0]
    assert f"requestTime < {start_ms + 300_000}" in captured[0]


def test_a_full_page_splits_the_window_in_two(
    logs: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = logs
    monkeypatch.setattr(logs_insights, "MAX_ROWS", 3)
    requests = hand_computed_minute(1)[:6]
    start, end = MINUTE, MINUTE + timedelta(minutes=2)
    middle = MINUTE + timedelta(minutes=1)
    # given the whole window fills the row limit, each half does not
    expect_query(stubber, "q-all", start, end)
    stubber.add_response(
        "get_query_results", complete([log_row(r) for r in requests[:3]]), {"queryId": "q-all"}
    )
    expect_query(stubber, "q-a", start, middle)
    stubber.add_response(
        "get_query_results", complete([log_row(r) for r in requests[:2]]), {"queryId": "q-a"}
    )
    expect_query(stubber, "q-b", middle, end)
    stubber.add_response("get_query_results", complete([]), {"queryId": "q-b"})
    records = reader(client).read(start, end)
    assert [r.request_id for r in records] == ["r-1", "r-2"]


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout"])
def test_a_failed_query_raises(logs: tuple[Any, Stubber], status: str) -> None:
    client, stubber = logs
    expect_query(stubber, "q-3", MINUTE, MINUTE + timedelta(minutes=1))
    stubber.add_response("get_query_results", {"results": [], "status": status}, {"queryId": "q-3"})
    with pytest.raises(LogsQueryError, match=status):
        reader(client).read(MINUTE, MINUTE + timedelta(minutes=1))


def test_a_query_that_never_completes_is_stopped(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    expect_query(stubber, "q-4", MINUTE, MINUTE + timedelta(minutes=1))
    for _ in range(3):
        stubber.add_response("get_query_results", {"results": [], "status": "Running"}, {"queryId": "q-4"})
    stubber.add_response("stop_query", {"success": True}, {"queryId": "q-4"})
    with pytest.raises(LogsQueryError, match="still Running"):
        reader(client, poll_seconds=1.0, timeout_seconds=2.0).read(MINUTE, MINUTE + timedelta(minutes=1))


def test_no_log_group_configured_is_an_error(settings: Any) -> None:
    settings.PARTNER_ACCESS_LOG_GROUPS = []
    with pytest.raises(LogsQueryError, match="PARTNER_ACCESS_LOG_GROUPS"):
        LogsInsightsReader(client=object()).read(MINUTE, MINUTE + timedelta(minutes=1))


def test_rows_without_the_expected_fields_are_skipped_and_dashes_are_empty() -> None:
    request = hand_computed_minute(1)[0]
    row = log_row(request)
    assert record_of([cell for cell in row if cell["field"] != "status"]) is None
    no_latency = [
        c if c["field"] != "responseLatency" else {"field": "responseLatency", "value": "-"} for c in row
    ]
    record = record_of(no_latency)
    assert record is not None
    assert (record.latency_ms, record.response_type, record.stage, record.method) == (0.0, "", STAGE, FEED)
