"""After issuing and rotating keys (pages, API, services; locally and on API Gateway), no secret is
anywhere: not in any database table (sessions included), not in the logs at DEBUG, not in the audit."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from accounts.partners.services import key_issue, key_retry_sync, key_rotate, plan_create
from portal.audit.models import AuditEntry
from portal.observability.logging import JsonFormatter
from tests.partners.conftest import plan_input


def windows(secret: str, size: int = 12) -> Iterator[str]:
    """Every run of `size` characters of the secret: even a partial leak counts.

    (The shown prefix is 10 characters and the last four are shown, so no 12-character run is
    public on purpose.)
    """
    for start in range(len(secret) - size + 1):
        yield secret[start : start + size]


def database_dump() -> str:
    """Every row of every table, as text, plus Django's own dumpdata."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            parts.extend(repr(row) for row in cursor.fetchall())
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    parts.append(out.getvalue())
    return "\n".join(parts)


def audit_dump() -> str:
    return "\n".join(
        json.dumps([e.action, e.object_repr, e.before, e.after], default=str)
        for e in AuditEntry.objects.all()
    )


def log_dump(caplog: pytest.LogCaptureFixture) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(JsonFormatter().format(record))  # the Lambda format, with context and extras
        lines.append(repr(record.args))
    return "\n".join(lines)


def issue_and_rotate_everywhere(
    admin_user: User, plan: UsagePlan, partner: Partner, capture: Any
) -> list[str]:
    """Issue and rotate keys through the page, the API and the services; return every secret."""
    secrets: list[str] = []
    client = Client()
    client.force_login(admin_user)
    with capture(execute=True):
        page = client.post(
            reverse("partners:key-issue"), {"partner": partner.pk, "plan": plan.pk, "name": "page"}
        )
    secrets.append(page.content.decode().split('id="partner-secret" value="', 1)[1].split('"', 1)[0])
    key = PartnerApiKey.objects.get(name="page")
    with capture(execute=True):
        page = client.post(reverse("partners:key-rotate", args=[key.pk]), {"grace": "24"})
    secrets.append(page.content.decode().split('id="partner-secret" value="', 1)[1].split('"', 1)[0])
    # The page after the secret (a redirect target with messages) must not carry it either
    client.get(reverse("partners:keys"))

    api = APIClient()
    api.force_authenticate(admin_user)
    with capture(execute=True):
        answer = api.post(
            "/api/v1/partner-keys/", {"partner": partner.pk, "plan": plan.pk, "name": "api"}, format="json"
        )
    secrets.append(answer.json()["secret"])
    with capture(execute=True):
        answer = api.post(
            f"/api/v1/partner-keys/{answer.json()['key']['id']}/rotate/", {"grace_hours": 0}, format="json"
        )
    secrets.append(answer.json()["secret"])

    with capture(execute=True):
        issued = key_issue(actor=admin_user, partner=partner, plan=plan, name="service")
    secrets.append(issued.secret)
    with capture(execute=True):
        secrets.append(key_rotate(actor=admin_user, key=issued.key, grace=timedelta(0)).secret)
    # Six distinct secrets, each long enough to be a real key
    assert len(set(secrets)) == 6 and all(len(s) >= 40 for s in secrets)
    return secrets


def assert_nowhere(secrets: list[str], caplog: pytest.LogCaptureFixture) -> None:
    haystacks = {"database": database_dump(), "audit": audit_dump(), "logs": log_dump(caplog)}
    for secret in secrets:
        for where, text in haystacks.items():
            leaked = [w for w in windows(secret) if w in text]
            assert not leaked, f"part of a secret ({leaked[0]!r}) is in the {where}"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture, settings: Any) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, SQL included."""
    caplog.set_level(logging.DEBUG)
    for name in ("django.db.backends", "botocore", "urllib3", "django.request", "accounts"):
        caplog.set_level(logging.DEBUG, logger=name)
    previous = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = previous


def test_no_secret_in_database_logs_or_audit_locally(
    admin_user: User,
    plan: UsagePlan,
    partner: Partner,
    debug_logs: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    secrets = issue_and_rotate_everywhere(admin_user, plan, partner, django_capture_on_commit_callbacks)
    # The SQL log really was captured, so its silence about the secrets means something
    assert "INSERT INTO" in debug_logs.text and "accounts_partnerapikey" in debug_logs.text
    assert_nowhere(secrets, debug_logs)


def test_no_secret_in_database_logs_or_audit_on_api_gateway(
    apigateway: dict[str, Any],
    admin_user: User,
    partner: Partner,
    debug_logs: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given the apigateway backend (boto3 at DEBUG would log CreateApiKey's value)
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input(api_stages=[apigateway["stage"]]))
    secrets = issue_and_rotate_everywhere(admin_user, plan, partner, django_capture_on_commit_callbacks)
    # The keys really are on API Gateway with those values
    values = {k["value"] for k in apigateway["client"].get_api_keys(includeValues=True)["items"]}
    assert set(secrets) & values
    assert "botocore" in debug_logs.text
    assert_nowhere(secrets, debug_logs)


def test_a_re_issue_after_a_failed_first_sync_leaks_nothing(
    apigateway: dict[str, Any],
    admin_user: User,
    partner: Partner,
    debug_logs: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from accounts.partners.gateway import GatewayError
    from accounts.partners.gateway.apigateway import ApiGatewayBackend

    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_create(actor=admin_user, data=plan_input(api_stages=[apigateway["stage"]]))
    real_put = ApiGatewayBackend.key_put

    def down(self: Any, key: Any, secret: str | None) -> str:
        raise GatewayError("ServiceUnavailable", retryable=True)

    monkeypatch.setattr(ApiGatewayBackend, "key_put", down)
    with django_capture_on_commit_callbacks(execute=True):
        first = key_issue(actor=admin_user, partner=partner, plan=plan, name="flaky")
    monkeypatch.setattr(ApiGatewayBackend, "key_put", real_put)
    with django_capture_on_commit_callbacks(execute=True):
        again = key_retry_sync(actor=admin_user, key=PartnerApiKey.objects.get(pk=first.key.pk))
    assert again is not None
    assert_nowhere([first.secret, again.secret], debug_logs)
