"""JSON log lines: the request's ids, user, role, market, view, status and duration; no secret."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from markets.models import Market
from portal import scheduled
from portal.observability import context
from portal.observability.logging import REDACTED, JsonFormatter, TextFormatter, job_run

pytestmark = pytest.mark.django_db


def lambda_environ(gateway_id: str, lambda_id: str) -> dict[str, Any]:
    """What Zappa's handler adds to the WSGI environ on Lambda."""
    return {
        "lambda.event": {"requestContext": {"requestId": gateway_id, "stage": "dev"}},
        "lambda.context": SimpleNamespace(aws_request_id=lambda_id),
    }


def test_a_page_request_logs_ids_user_role_market_view_status_and_duration(
    au_manager: User, au: Market
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("meridian.request")
    logger.addHandler(handler)
    try:
        client = Client()
        client.force_login(au_manager)
        response = client.get(
            reverse("markets:detail", args=["AU"]), **lambda_environ("gw-123", "lambda-456")
        )
        Client().get("/no-such-page/", **lambda_environ("gw-124", "lambda-457"))
    finally:
        logger.removeHandler(handler)
    first, missing = (json.loads(line) for line in stream.getvalue().splitlines())
    assert response.status_code == 200
    assert first["logger"] == "meridian.request" and first["level"] == "INFO"
    assert first["request_id"] == "gw-123" and first["lambda_request_id"] == "lambda-456"
    assert first["user"] == "au-manager"
    assert first["role"] == "market_manager"
    assert first["market"] == "AU"
    assert first["view"] == "markets:detail"
    assert first["status"] == 200 and first["method"] == "GET"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert first["time"].endswith("+00:00")
    # an anonymous 404 has no user, role or view, and its ids are its own
    assert (missing["status"], missing["request_id"]) == (404, "gw-124")
    assert "user" not in missing and "role" not in missing


def test_an_api_token_request_is_logged_with_the_token_user_and_never_the_token(
    editor: User, de: Market
) -> None:
    from accounts.services import api_token_create

    secret = api_token_create(actor=editor, user=editor, name="ci").secret
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        response = Client().get(
            "/api/v1/markets/DE/", HTTP_AUTHORIZATION=f"Token {secret}", **lambda_environ("gw-9", "l-9")
        )
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 200
    text = stream.getvalue()
    assert secret not in text and secret[:12] not in text
    line = next(json.loads(x) for x in text.splitlines() if json.loads(x)["logger"] == "meridian.request")
    assert (line["user"], line["role"], line["market"], line["status"]) == ("editor", "editor", "DE", 200)


def test_credential_like_fields_are_redacted_at_any_depth() -> None:
    record = logging.LogRecord("meridian.test", logging.INFO, __file__, 1, "calling %s", ("gateway",), None)
    record.api_key = "abcdefghijklmnopqrstuvwx"  # type: ignore[attr-defined]
    record.request = {"headers": {"Authorization": "Token s3cr3t", "X-Api-Key": "k3y"}, "path": "/x"}  # type: ignore[attr-defined]
    with context.scope(password="hunter2", market="AU"):
        line = json.loads(JsonFormatter().format(record))
        text = TextFormatter().format(record)
    assert line["api_key"] == REDACTED and line["password"] == REDACTED
    assert line["request"] == {"headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED}, "path": "/x"}
    assert line["market"] == "AU" and line["message"] == "calling gateway"
    for secret in ("abcdefghijkl", "s3cr3t", "k3y", "hunter2"):
        assert secret not in json.dumps(line) and secret not in text


def test_an_exception_is_one_line_with_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("meridian.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    output = JsonFormatter().format(record)
    assert "\n" not in output
    assert "RuntimeError: boom" in json.loads(output)["exception"]


def test_a_scheduled_job_logs_job_attempt_and_outcome(
    caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    caplog.set_level(logging.INFO, logger="meridian.job")

    def fails(name: str, *args: str, stdout: Any, stderr: Any) -> None:
        raise RuntimeError("database is gone")

    scheduled.metrics_emit({}, None)  # a real run: the metrics command on the test database
    monkeypatch.setattr(scheduled, "call_command", fails)
    with pytest.raises(scheduled.ScheduledJobFailed):
        scheduled.labels_sweep({}, None)
    ok, failed = (json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "meridian.job")
    assert (ok["job"], ok["outcome"], ok["level"]) == ("metrics_emit", "ok", "INFO")
    assert (failed["job"], failed["outcome"], failed["level"]) == ("labels_sweep", "failed", "ERROR")
    assert failed["duration_ms"] >= 0


def test_job_run_records_the_attempt_and_a_chosen_outcome(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="meridian.job")
    with job_run("label:17", attempt=3) as result:
        logging.getLogger("meridian.labels").info("inside the job")
        result["outcome"] = "retrying"
    inside = next(r for r in caplog.records if r.name == "meridian.labels")
    line = json.loads(JsonFormatter().format(inside))
    assert (line["job"], line["attempt"]) == ("label:17", 3)
    summary = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert (summary["job"], summary["attempt"], summary["outcome"]) == ("label:17", 3, "retrying")
    # and the context does not outlive the job
    assert "job" not in context.current()


def test_each_labelling_job_logs_its_attempt_and_outcome(
    caplog: pytest.LogCaptureFixture, new_image: Any
) -> None:
    from content.labels import jobs
    from content.labels.labellers.fake import FakeLabeller
    from tests.labels.test_jobs import Failing

    caplog.set_level(logging.INFO, logger="meridian.job")
    first, second = new_image(), new_image()
    jobs.process(labeller=Failing(final=False), image_ids=[first.pk])
    jobs.process(labeller=FakeLabeller(), image_ids=[second.pk])
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "meridian.job"]
    retried, done = lines
    assert (retried["job"], retried["attempt"], retried["outcome"], retried["level"]) == (
        "labelling",
        1,
        "queued",
        "WARNING",
    )
    assert retried["image_id"] == first.pk
    assert (done["outcome"], done["level"], done["image_id"]) == ("done", "INFO", second.pk)
