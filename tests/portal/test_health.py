"""The health checks Route 53 and operators use."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.db.utils import OperationalError
from django.test import Client, override_settings


def test_healthcheck_answers_ok_without_auth_or_db(client: Client) -> None:
    # given no login and no database access allowed (pytest-django raises on any query),
    # when Route 53 probes, then it gets a plain "ok"
    response = client.get("/healthcheck")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().strip() == "ok"


def test_healthcheck_head_and_trailing_slash(client: Client) -> None:
    assert client.head("/healthcheck").status_code == 200
    assert client.get("/healthcheck/").content.decode().strip() == "ok"


@override_settings(ALLOWED_HOSTS=["meridian.example.com"])
def test_healthcheck_is_answered_before_allowed_hosts(client: Client) -> None:
    # given the execute-api host is not in ALLOWED_HOSTS, the probe still succeeds
    response = client.get("/healthcheck", HTTP_HOST="abc123.execute-api.us-east-1.amazonaws.com")
    assert response.status_code == 200
    # while any other page on that host is refused
    assert (
        client.get("/accounts/login/", HTTP_HOST="abc123.execute-api.us-east-1.amazonaws.com").status_code
        == 400
    )


def test_healthcheck_rejects_post(client: Client) -> None:
    response = client.post("/healthcheck")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_deep_healthcheck_checks_the_database(client: Client) -> None:
    response = client.get("/healthcheck/deep")
    assert response.status_code == 200
    assert response.content.decode().strip() == "ok"


@pytest.mark.django_db
def test_deep_healthcheck_is_503_when_the_database_is_down(client: Client) -> None:
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthcheck/deep")
    assert response.status_code == 503
    assert "database unavailable" in response.content.decode()
