"""API Gateway access logs read with CloudWatch Logs Insights (boto3 imported on first use).

Each stage writes one JSON line per request (the format is in docs/partners.md). A read runs
`start_query` over a bounded window, polls `get_query_results` until the query is Complete, and
returns plain records for the traffic aggregation. Logs Insights returns at most 10,000 rows a
query: a window that fills the limit is split in two and each half read again, down to one minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_ROWS = 10_000
# @timestamp is when the line was written, requestTime when the request arrived: the query's time
# range is widened by more than API Gateway's longest integration timeout, then filtered exactly.
LATE_WRITE_MARGIN = timedelta(minutes=2)
DONE = {"Complete"}
FAILED = {"Failed", "Cancelled", "Timeout", "Unknown"}
QUERY = (
    "fields requestId, apiId, apiKeyId, stage, resourcePath, httpMethod, status, requestTime,"
    " responseLatency, responseType"
    " | filter ispresent(apiKeyId) and apiKeyId != '-'"
    " and requestTime >= {start_ms} and requestTime < {end_ms}"
    " | sort requestTime asc"
    " | limit {limit}"
)

_client_lock = threading.Lock()


class LogsQueryError(RuntimeError):
    """A Logs Insights query failed, was cancelled, or did not complete in time."""


@dataclass(frozen=True)
class AccessLogRecord:
    """One access-log line: the key's API Gateway id, `apiId:stage`, "/resource/METHOD", etc."""

    request_id: str
    api_key_id: str
    stage: str
    method: str
    at: datetime
    status: int
    response_type: str
    latency_ms: float


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def record_of(row: Sequence[dict[str, str]]) -> AccessLogRecord | None:
    """Parse one result row (a list of {field, value}); None for a line missing what we need."""
    values = {cell["field"]: cell.get("value", "") for cell in row}
    try:
        at = datetime.fromtimestamp(int(values["requestTime"]) / 1000, tz=UTC)
        status = int(values["status"])
        latency = values.get("responseLatency", "")
        response_type = values.get("responseType", "")
        return AccessLogRecord(
            request_id=values["requestId"],
            api_key_id=values["apiKeyId"],
            stage=f"{values['apiId']}:{values['stage']}",
            method=f"{values['resourcePath']}/{values['httpMethod']}",
            at=at,
            status=status,
            # API Gateway writes "-" for a value it does not have (no integration: no latency).
            response_type="" if response_type == "-" else response_type,
            latency_ms=float(latency) if latency not in ("", "-") else 0.0,
        )
    except (KeyError, ValueError):
        logger.warning("Skipping an access-log row without the expected fields: %s", sorted(values))
        return None


class LogsInsightsReader:
    """Reads partner requests from API Gateway access-log groups with Logs Insights."""

    def __init__(
        self,
        *,
        log_groups: Sequence[str] | None = None,
        client: Any = None,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        min_window: timedelta = timedelta(minutes=1),
    ) -> None:
        self.log_groups = list(log_groups if log_groups is not None else settings.PARTNER_ACCESS_LOG_GROUPS)
        self._client = client
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.min_window = min_window

    @property
    def client(self) -> Any:
        if self._client is None:
            with _client_lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.client(
                        "logs",
                        region_name=settings.AWS_REGION or None,
                        config=Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=30),
                    )
        return self._client

    def read(self, start: datetime, end: datetime) -> list[AccessLogRecord]:
        """Return every partner request that arrived in [start, end), oldest first."""
        if not self.log_groups:
            raise LogsQueryError("No access-log group configured (PARTNER_ACCESS_LOG_GROUPS).")
        rows = self._query(start, end)
        if len(rows) >= MAX_ROWS:
            if end - start <= self.min_window:
                logger.warning("Access logs %s–%s hit Logs Insights' row limit: partial figures.", start, end)
            else:
                middle = start + (end - start) / 2
                middle = middle.replace(microsecond=0)
                return self.read(start, middle) + self.read(middle, end)
        records = [record_of(row) for row in rows]
        return [record for record in records if record is not None]

    def _query(self, start: datetime, end: datetime) -> list[list[dict[str, str]]]:
        query_id = self.client.start_query(
            logGroupNames=self.log_groups,
            startTime=int((start - LATE_WRITE_MARGIN).timestamp()),
            endTime=int((end + LATE_WRITE_MARGIN).timestamp()),
            queryString=QUERY.format(start_ms=_epoch_ms(start), end_ms=_epoch_ms(end), limit=MAX_ROWS),
            limit=MAX_ROWS,
        )["queryId"]
        waited = 0.0
        while True:
            answer = self.client.get_query_results(queryId=query_id)
            status = answer.get("status", "Unknown")
            if status in DONE:
                results: list[list[dict[str, str]]] = answer.get("results", [])
                return results
            if status in FAILED:
                raise LogsQueryError(f"Logs Insights query {query_id} ended {status}.")
            if waited >= self.timeout_seconds:
                self.client.stop_query(queryId=query_id)
                raise LogsQueryError(f"Logs Insights query {query_id} still {status} after {waited:.0f}s.")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
