"""CloudWatch embedded metric format: the documents' shape, the metrics job, the failure counters."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.observability import metrics
from portal.observability.selectors import operational_figures
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def emf(settings: Any, capsys: pytest.CaptureFixture[str]) -> Iterator[list[dict[str, Any]]]:
    """Metrics on, as on Lambda; yields a list that `lines()` refills with every EMF line written."""
    settings.METRICS_ENABLED = True
    settings.MERIDIAN_ENVIRONMENT = "staging"
    docs: list[dict[str, Any]] = []
    yield docs


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def assert_valid_emf(doc: dict[str, Any]) -> None:
    """The rules of the EMF specification that CloudWatch enforces (else it drops the metrics)."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_700_000_000_000
    (directive,) = aws["CloudWatchMetrics"]
    assert directive["Namespace"] == "Meridian"
    for dimension_set in directive["Dimensions"]:
        assert len(dimension_set) in range(1, 31)  # EMF: 1 to 30 dimensions per set
        for dimension in dimension_set:
            assert isinstance(doc[dimension], str)  # every dimension is a string member
    assert len(directive["Metrics"]) in range(1, 101)  # EMF: 1 to 100 metrics per directive
    for metric in directive["Metrics"]:
        assert set(metric) == {"Name", "Unit"}
        assert metric["Unit"] in {"Count", "Seconds", "Milliseconds"}
        assert isinstance(doc[metric["Name"]], int | float)  # every metric is a numeric member


def test_a_document_declares_each_metric_with_unit_and_the_environment_dimension(
    emf: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    doc = metrics.emit({"OutboxDepth": 12, "OutboxOldestAgeSeconds": 30.5}, properties={"note": "x"})
    (line,) = emitted(capsys)
    assert line == doc
    assert_valid_emf(doc)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment"]]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "OutboxDepth", "Unit": "Count"},
        {"Name": "OutboxOldestAgeSeconds", "Unit": "Seconds"},
    ]
    assert (doc["Environment"], doc["OutboxDepth"], doc["OutboxOldestAgeSeconds"], doc["note"]) == (
        "staging",
        12.0,
        30.5,
        "x",
    )


def test_an_unknown_metric_is_refused_so_no_alarm_can_miss_it() -> None:
    with pytest.raises(metrics.UnknownMetric, match="OutboxDepht"):
        metrics.emit({"OutboxDepht": 1})


def test_off_lambda_nothing_goes_to_stdout(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings.METRICS_ENABLED = False
    metrics.count("Partner429")
    assert emitted(capsys) == []


def test_the_metrics_job_reports_outbox_publish_latency_and_labelling(
    emf: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    now = timezone.now()
    # given two pending rows (the oldest 90 s old), one dead letter, and two rows published recently
    rows = [
        OutboxEntry.objects.create(kind=OutboxKind.MARKET, key=f"M{i}", version=1, status=status)
        for i, status in enumerate(
            [
                OutboxStatus.PENDING,
                OutboxStatus.PENDING,
                OutboxStatus.DEAD,
                OutboxStatus.PUBLISHED,
                OutboxStatus.PUBLISHED,
            ]
        )
    ]
    OutboxEntry.objects.filter(pk=rows[0].pk).update(created_at=now - timedelta(seconds=90))
    OutboxEntry.objects.filter(pk=rows[3].pk).update(created_at=now - timedelta(seconds=2), published_at=now)
    OutboxEntry.objects.filter(pk=rows[4].pk).update(created_at=now - timedelta(seconds=4), published_at=now)
    figures = operational_figures(now=now)
    assert (figures.outbox_depth, figures.outbox_dead_letters) == (2, 1)
    assert 89 <= figures.outbox_oldest_age_seconds <= 91
    assert (figures.publish_latency_ms, figures.publish_latency_max_ms) == (3000.0, 4000.0)
    assert figures.labelling_queue_depth == 0
    # when the scheduled metrics job runs
    out = io.StringIO()
    call_command("metrics", stdout=out)
    (doc,) = emitted(capsys)
    assert_valid_emf(doc)
    assert {m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        "OutboxDepth",
        "OutboxOldestAgeSeconds",
        "OutboxDeadLetters",
        "PublishLatencyMs",
        "PublishLatencyMaxMs",
        "LabellingQueueDepth",
        "LabellingDeadJobs",
    }
    assert doc["OutboxDepth"] == 2 and doc["OutboxDeadLetters"] == 1


def test_a_dead_letter_is_counted_when_it_happens(
    emf: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    from portal.shared_tables.publisher import DrainResult, _Group, _mark_failed

    row = OutboxEntry.objects.create(kind=OutboxKind.MARKET, key="DE", version=3)
    group = _Group(kind=OutboxKind.MARKET, key="DE", version=3, attempts=0, row_ids=[row.pk])
    _mark_failed(group, "ValidationException", permanent=True, now=timezone.now(), result=DrainResult())
    (doc,) = emitted(capsys)
    assert doc["OutboxDeadLettered"] == 1 and doc["kind"] == OutboxKind.MARKET


def test_a_partner_429_is_counted_with_its_reason(
    emf: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from accounts.partners.enforcement import Decision, refusal_response

    assert refusal_response(Decision(False, "quota", 429)).status_code == 429
    assert refusal_response(Decision(False, "throttle", 429, retry_after=1)).status_code == 429
    assert refusal_response(Decision(False, "bad key", 403)).status_code == 403
    docs = emitted(capsys)
    assert [(d["Partner429"], d["reason"]) for d in docs] == [(1.0, "quota"), (1.0, "throttle")]


def test_labelling_and_gateway_sync_failures_are_counted(
    emf: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from accounts.partners.gateway import GatewayError
    from accounts.partners.models import UsagePlan
    from accounts.partners.services.sync import _mark_failed
    from content.labels.services import image_labelling_failed

    image_labelling_failed(image_id=987654, error="InvalidImageFormatException")
    _mark_failed(UsagePlan, 987654, GatewayError("CreateUsagePlan: TooManyRequestsException", retryable=True))
    docs = emitted(capsys)
    assert [name for d in docs for name in d if name in metrics.UNITS] == [
        "LabellingFailures",
        "GatewaySyncFailures",
    ]
    assert docs[1]["model"] == "UsagePlan"
