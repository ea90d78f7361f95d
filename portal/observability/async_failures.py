"""What Lambda's on-failure destination caught: asynchronous invocations that failed for good.

Each function's asynchronous invocations (Zappa async tasks, scheduled events) have one SQS queue
as their on-failure destination (deploy/cloudformation/async-failures.yaml). Lambda puts a record
there after its two retries, or when the event grew too old. The `async_failures` scheduled job
drains the queue into the logs (one structured ERROR line per failure, searchable in CloudWatch
Logs Insights) and the `AsyncFailures` metric, which alarms.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from portal.observability import metrics

logger = logging.getLogger("meridian.async_failures")

SQS_MAX_BATCH = 10


@dataclass(frozen=True)
class AsyncFailure:
    """One on-failure destination record, reduced to what an operator needs (no arguments)."""

    job: str
    request_id: str
    function: str
    condition: str
    invoke_count: int
    error_type: str
    error_message: str
    failed_at: str


def parse_record(body: str) -> AsyncFailure:
    """Read Lambda's invocation record; the job is Zappa's task path or the schedule rule's name."""
    record: dict[str, Any] = json.loads(body)
    request = record.get("requestContext") or {}
    payload = record.get("requestPayload") or {}
    response = record.get("responsePayload") or {}
    job = ""
    if isinstance(payload, dict):
        job = str(payload.get("task_path") or "")
        if not job and payload.get("resources"):
            # EventBridge: arn:aws:events:region:account:rule/<rule>, named by Zappa after the function.
            job = str(payload["resources"][0]).rsplit("/", 1)[-1]
    if not isinstance(response, dict):
        response = {"errorMessage": str(response)}
    return AsyncFailure(
        job=job or "unknown",
        request_id=str(request.get("requestId", "")),
        function=str(request.get("functionArn", "")),
        condition=str(request.get("condition", "")),
        invoke_count=int(request.get("approximateInvokeCount", 0) or 0),
        error_type=str(
            response.get("errorType", (record.get("responseContext") or {}).get("functionError", ""))
        ),
        error_message=str(response.get("errorMessage", ""))[:2000],
        failed_at=str(record.get("timestamp", "")),
    )


def _client() -> Any:
    import boto3

    return boto3.session.Session().client("sqs")


def _queue_url(client: Any) -> str:
    name = settings.ASYNC_FAILURES_QUEUE
    if not name:
        raise RuntimeError("ASYNC_FAILURES_QUEUE is not set: no on-failure destination to read.")
    return str(client.get_queue_url(QueueName=name)["QueueUrl"])


def async_failures_peek(*, limit: int = 50) -> list[AsyncFailure]:
    """Return up to `limit` failures without removing them (they stay visible to the next reader)."""
    client = _client()
    url = _queue_url(client)
    found: dict[str, AsyncFailure] = {}
    # Messages stay visible (timeout 0), so a receive may return ones already seen: stop when a
    # receive brings nothing new.
    for _ in range(limit // SQS_MAX_BATCH + 3):
        batch = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=SQS_MAX_BATCH, VisibilityTimeout=0
        ).get("Messages", [])
        new = [m for m in batch if m["MessageId"] not in found]
        if not new:
            break
        found.update((m["MessageId"], parse_record(m["Body"])) for m in new)
    return list(found.values())[:limit]


def async_failures_drain(*, limit: int = 500) -> list[AsyncFailure]:
    """Log each failure as a structured ERROR line, count them in `AsyncFailures`, then delete them.

    A message is deleted only after its line is written; a crash in between logs it twice, never
    zero times.
    """
    client = _client()
    url = _queue_url(client)
    drained: list[AsyncFailure] = []
    while len(drained) < limit:
        batch = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(SQS_MAX_BATCH, limit - len(drained)), VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            try:
                failure = parse_record(message["Body"])
            except (ValueError, TypeError, KeyError):
                failure = AsyncFailure(
                    "unreadable", "", "", "", 0, "", str(message.get("Body", ""))[:500], ""
                )
            logger.error(
                "asynchronous invocation of %s failed for good (%s): %s",
                failure.job,
                failure.condition,
                failure.error_message,
                extra={"async_failure": asdict(failure)},
            )
            drained.append(failure)
        client.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    if drained:
        metrics.emit({"AsyncFailures": len(drained)})
    return drained
