"""The on-failure queue: Lambda's invocation records become log lines and a metric (moto's SQS)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from moto import mock_aws

from portal.observability.async_failures import parse_record
from portal.observability.logging import JsonFormatter

QUEUE = "meridian-dev-async-failures"

# Lambda's on-failure record for a Zappa async task (shape from the Lambda developer guide).
TASK_FAILURE = {
    "version": "1.0",
    "timestamp": "2026-12-06T03:01:02.345Z",
    "requestContext": {
        "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:meridian-dev:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    },
    "requestPayload": {
        "task_path": "content.labels.jobs.process_images",
        "capture_response": False,
        "response_id": None,
        "args": [[101, 102]],
        "kwargs": {},
        "command": "zappa.asynchronous.route_lambda_task",
    },
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "responsePayload": {"errorMessage": "database is unreachable", "errorType": "OperationalError"},
}
SCHEDULE_FAILURE = {
    **TASK_FAILURE,
    "requestContext": {
        **TASK_FAILURE["requestContext"],
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 1,
    },
    "requestPayload": {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "resources": [
            "arn:aws:events:us-east-1:123456789012:rule/meridian-dev-portal.scheduled.labels_sweep"
        ],
    },
    "responsePayload": None,
}


@pytest.fixture
def queue(settings: Any, aws_env: None) -> Iterator[Any]:
    settings.ASYNC_FAILURES_QUEUE = QUEUE
    settings.METRICS_ENABLED = True
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        for record in (TASK_FAILURE, SCHEDULE_FAILURE):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        yield sqs, url


def test_a_record_names_the_job_the_condition_and_the_error_but_not_the_arguments() -> None:
    failure = parse_record(json.dumps(TASK_FAILURE))
    assert failure.job == "content.labels.jobs.process_images"
    assert (failure.condition, failure.invoke_count) == ("RetriesExhausted", 3)
    assert (failure.error_type, failure.error_message) == ("OperationalError", "database is unreachable")
    assert "101" not in json.dumps(failure.__dict__)
    scheduled = parse_record(json.dumps(SCHEDULE_FAILURE))
    assert scheduled.job == "meridian-dev-portal.scheduled.labels_sweep"
    assert (scheduled.condition, scheduled.error_type) == ("EventAgeExceeded", "Unhandled")


def test_peek_leaves_the_messages_and_drain_logs_counts_and_deletes_them(
    queue: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, url = queue
    out = io.StringIO()
    call_command("async_failures", "peek", stdout=out)
    assert "2 failed asynchronous invocation(s)" in out.getvalue()
    assert "content.labels.jobs.process_images RetriesExhausted x3" in out.getvalue()
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "2"
    # when the scheduled job drains the queue
    caplog.set_level(logging.ERROR, logger="meridian.async_failures")
    call_command("async_failures", "drain", stdout=io.StringIO())
    # then each failure is one structured ERROR line, the metric counts them, and the queue is empty
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "meridian.async_failures"
    ]
    assert sorted(line["async_failure"]["job"] for line in lines) == [
        "content.labels.jobs.process_images",
        "meridian-dev-portal.scheduled.labels_sweep",
    ]
    assert all(line["level"] == "ERROR" for line in lines)
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    assert [doc["AsyncFailures"] for doc in emf] == [2.0]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None
