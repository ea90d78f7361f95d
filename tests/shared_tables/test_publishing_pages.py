"""The publishing page and REST API: counts, dead letters with errors, retry one or all; admins only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus

pytestmark = pytest.mark.django_db

NOT_ADMINS = ["editor", "au_editor", "au_manager", "reviewer", "nobody"]


@pytest.fixture
def outbox(db: None) -> dict[str, OutboxEntry]:
    """Two dead letters, one pending row and one published row."""
    make = OutboxEntry.objects.create
    return {
        "dead_position": make(
            kind=OutboxKind.POSITION,
            key="AU|c-1",
            version=3,
            status=OutboxStatus.DEAD,
            attempts=8,
            last_error="ProvisionedThroughputExceededException: Rate of requests exceeds the throughput.",
        ),
        "dead_content": make(
            kind=OutboxKind.CONTENT,
            key="huge",
            version=1,
            status=OutboxStatus.DEAD,
            attempts=1,
            last_error="Item is 420,000 bytes, over DynamoDB's 400 KB item limit.",
        ),
        "pending": make(kind=OutboxKind.MARKET, key="AU", version=2),
        "published": make(kind=OutboxKind.MARKET, key="DE", version=1, status=OutboxStatus.PUBLISHED),
    }


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- the page ----------------------------------------------------------------------------------


def test_an_admin_sees_counts_and_dead_letters_with_their_errors(
    client: Client, admin_user: User, outbox: dict[str, OutboxEntry], django_assert_max_num_queries: Any
) -> None:
    # When an admin opens /publishing/
    logged_in(client, admin_user)
    with django_assert_max_num_queries(8):
        response = client.get("/publishing/")

    # Then the counts and both dead letters with their errors and retry buttons are shown
    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd id="publishing-pending">1</dd>' in html
    assert "ProvisionedThroughputExceededException" in html and "400 KB" in html
    assert html.count('action="/publishing/') == 3  # retry all + one per row
    assert 'aria-label="Retry Position AU|c-1"' in html


def test_the_page_says_when_there_is_nothing_dead(client: Client, admin_user: User) -> None:
    response = logged_in(client, admin_user).get("/publishing/")
    assert response.status_code == 200
    assert "No dead letters" in response.content.decode()


def test_an_admin_retries_one_dead_letter(
    client: Client, admin_user: User, outbox: dict[str, OutboxEntry]
) -> None:
    # When an admin retries the dead position
    row = outbox["dead_position"]
    response = logged_in(client, admin_user).post(f"/publishing/{row.pk}/retry/", follow=True)

    # Then it is queued again with fresh attempts, the other stays dead, and it is audited
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    assert OutboxEntry.objects.get(pk=outbox["dead_content"].pk).status == OutboxStatus.DEAD
    assert f"#{row.pk} is queued again" in response.content.decode()
    audit = AuditEntry.objects.get(action="publishing.retry")
    assert (audit.actor, audit.after["ids"]) == (admin_user, [row.pk])  # type: ignore[index]

    # And retrying it again says there is nothing to retry
    again = client.post(f"/publishing/{row.pk}/retry/", follow=True)
    assert "not a dead letter" in again.content.decode()


def test_an_admin_retries_all_dead_letters(
    client: Client, admin_user: User, outbox: dict[str, OutboxEntry]
) -> None:
    response = logged_in(client, admin_user).post("/publishing/retry-all/", follow=True)
    assert "2 dead letter(s) queued again" in response.content.decode()
    assert not OutboxEntry.objects.filter(status=OutboxStatus.DEAD).exists()


def test_retrying_needs_a_post(client: Client, admin_user: User, outbox: dict[str, OutboxEntry]) -> None:
    logged_in(client, admin_user)
    assert client.get("/publishing/retry-all/").status_code == 405
    assert client.get(f"/publishing/{outbox['dead_position'].pk}/retry/").status_code == 405


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_other_roles_are_refused_the_page_and_the_buttons(
    client: Client, request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry], role: str
) -> None:
    logged_in(client, request.getfixturevalue(role))
    assert client.get("/publishing/").status_code == 403
    assert client.post("/publishing/retry-all/").status_code == 403
    assert client.post(f"/publishing/{outbox['dead_position'].pk}/retry/").status_code == 403
    assert OutboxEntry.objects.filter(status=OutboxStatus.DEAD).count() == 2


def test_anonymous_visitors_are_sent_to_log_in(client: Client, outbox: dict[str, OutboxEntry]) -> None:
    response = client.get("/publishing/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post("/publishing/retry-all/").status_code == 302
    assert OutboxEntry.objects.filter(status=OutboxStatus.DEAD).count() == 2


# --- the REST API ------------------------------------------------------------------------------


def api(request: pytest.FixtureRequest, role: str | None) -> APIClient:
    client = APIClient()
    if role is not None:
        client.force_authenticate(request.getfixturevalue(role))
    return client


def test_the_status_endpoint(request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry]) -> None:
    body = api(request, "admin_user").get("/api/v1/publishing/status/").json()
    assert (body["pending"], body["dead"], body["paused"]) == (1, 2, False)
    assert body["oldest_pending_at"] is not None
    assert body["last_error"].startswith("Item is 420,000 bytes")


def test_the_dead_letter_list_is_paginated_newest_first(
    request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry], django_assert_max_num_queries: Any
) -> None:
    client = api(request, "admin_user")
    with django_assert_max_num_queries(3):
        first = client.get("/api/v1/publishing/dead-letters/?page_size=1").json()
    second = client.get(first["next"]).json()
    assert [r["key"] for r in first["results"] + second["results"]] == ["huge", "AU|c-1"]
    assert set(first["results"][0]) == {
        "id",
        "kind",
        "key",
        "version",
        "attempts",
        "last_error",
        "created_at",
    }


def test_retry_by_ids_and_all(request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry]) -> None:
    client = api(request, "admin_user")
    one = client.post(
        "/api/v1/publishing/dead-letters/retry/", {"ids": [outbox["dead_content"].pk]}, format="json"
    )
    assert (one.status_code, one.json()) == (200, {"queued": 1})
    everything = client.post("/api/v1/publishing/dead-letters/retry/", {"all": True}, format="json")
    assert everything.json() == {"queued": 1}
    assert AuditEntry.objects.filter(action="publishing.retry", via="api").count() == 2


def test_retry_one_and_not_a_dead_letter(
    request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry]
) -> None:
    client = api(request, "admin_user")
    url = f"/api/v1/publishing/dead-letters/{outbox['dead_position'].pk}/retry/"
    assert client.post(url).json() == {"queued": 1}
    assert client.post(url).status_code == 404
    assert client.post(f"/api/v1/publishing/dead-letters/{outbox['published'].pk}/retry/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"all": True, "ids": [1]}, {"ids": []}, {"ids": ["x"]}, {"all": False}],
)
def test_a_bad_retry_body_answers_400(
    request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry], body: dict[str, Any]
) -> None:
    response = api(request, "admin_user").post("/api/v1/publishing/dead-letters/retry/", body, format="json")
    assert response.status_code == 400
    assert "ids" in response.json()
    assert OutboxEntry.objects.filter(status=OutboxStatus.DEAD).count() == 2


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_other_roles_are_refused_by_the_api(
    request: pytest.FixtureRequest, outbox: dict[str, OutboxEntry], role: str
) -> None:
    client = api(request, role)
    assert client.get("/api/v1/publishing/status/").status_code == 403
    assert client.get("/api/v1/publishing/dead-letters/").status_code == 403
    assert (
        client.post("/api/v1/publishing/dead-letters/retry/", {"all": True}, format="json").status_code == 403
    )
    assert (
        client.post(f"/api/v1/publishing/dead-letters/{outbox['dead_position'].pk}/retry/").status_code == 403
    )
    assert OutboxEntry.objects.filter(status=OutboxStatus.DEAD).count() == 2


def test_the_api_needs_credentials_and_takes_a_token(
    request: pytest.FixtureRequest, admin_user: User, outbox: dict[str, OutboxEntry]
) -> None:
    assert api(request, None).get("/api/v1/publishing/status/").status_code in (401, 403)
    issued = api_token_create(actor=admin_user, user=admin_user, name="ops")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.secret}")
    assert client.get("/api/v1/publishing/status/").json()["dead"] == 2
