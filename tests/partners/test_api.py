"""REST API for partners, plans and keys: admins only (token or session), secrets shown once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.partners.models import KeyStatus, KeyUsage, Partner, PartnerApiKey, QuotaTopUp, UsagePlan
from accounts.partners.services import IssuedKey
from accounts.services import api_token_create
from tests.partners.conftest import STAGE, T0

ROLES = ["admin_user", "editor", "au_editor", "au_manager", "reviewer", "nobody", None]

PLAN_BODY = {
    "name": "Partner Silver",
    "rate_limit": "10.5",
    "burst_limit": 20,
    "quota_limit": 5000,
    "quota_period": "WEEK",
    "quota_offset": 1,
    "api_stages": [STAGE],
    "method_throttles": [{"stage": STAGE, "path": "/feed/v1/{market}/GET", "rate": 2, "burst": 4}],
}


@pytest.fixture
def key(issue: Callable[..., IssuedKey]) -> PartnerApiKey:
    return issue().key


@pytest.fixture
def token_client(admin_user: User) -> APIClient:
    """An admin's automation token, as scripts use the API."""
    client = APIClient()
    secret = api_token_create(actor=admin_user, user=admin_user, name="partners script").secret
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def client_as(request: pytest.FixtureRequest, role: str | None) -> APIClient:
    client = APIClient()
    if role is not None:
        client.force_authenticate(request.getfixturevalue(role))
    return client


def cases(partner: Partner, plan: UsagePlan, key: PartnerApiKey) -> list[tuple[str, str, Any, int]]:
    """(method, url, body, admin's status)."""
    return [
        ("get", "/api/v1/partners/", None, 200),
        ("post", "/api/v1/partners/", {"name": "Telstra"}, 201),
        ("get", f"/api/v1/partners/{partner.pk}/", None, 200),
        ("patch", f"/api/v1/partners/{partner.pk}/", {"notes": "VIP"}, 200),
        ("get", "/api/v1/usage-plans/", None, 200),
        ("post", "/api/v1/usage-plans/", PLAN_BODY, 201),
        ("get", f"/api/v1/usage-plans/{plan.pk}/", None, 200),
        ("patch", f"/api/v1/usage-plans/{plan.pk}/", {"burst_limit": 600}, 200),
        ("post", f"/api/v1/usage-plans/{plan.pk}/retry-sync/", None, 200),
        ("get", "/api/v1/partner-keys/", None, 200),
        ("post", "/api/v1/partner-keys/", {"partner": partner.pk, "plan": plan.pk, "name": "web"}, 201),
        ("get", f"/api/v1/partner-keys/{key.pk}/", None, 200),
        ("get", f"/api/v1/partner-keys/{key.pk}/usage/", None, 200),
        ("get", f"/api/v1/partner-keys/{key.pk}/top-ups/", None, 200),
        ("post", f"/api/v1/partner-keys/{key.pk}/top-ups/", {"amount": 10, "reason": "test"}, 201),
        ("post", f"/api/v1/partner-keys/{key.pk}/retry-sync/", None, 200),
        ("post", f"/api/v1/partner-keys/{key.pk}/suspend/", None, 200),
        ("post", f"/api/v1/partner-keys/{key.pk}/resume/", None, 200),
        ("post", f"/api/v1/partner-keys/{key.pk}/rotate/", {"grace_hours": 24}, 201),
        ("post", f"/api/v1/partner-keys/{key.pk}/revoke/", None, 200),
        ("get", "/api/v1/partner-alerts/", None, 200),
        ("post", "/api/v1/partner-usage/sync/", None, 200),
        ("delete", f"/api/v1/usage-plans/{plan.pk}/", None, 400),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_admins_and_refuses_everyone_else(
    role: str | None,
    request: pytest.FixtureRequest,
    partner: Partner,
    plan: UsagePlan,
    key: PartnerApiKey,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_as(request, role)
    for method, url, body, admin_status in cases(partner, plan, key):
        with django_capture_on_commit_callbacks(execute=True):
            answer = getattr(client, method)(url, body, format="json")
        expected = admin_status if role == "admin_user" else (401 if role is None else 403)
        assert answer.status_code == expected, (method, url, answer.content[:300])
    if role != "admin_user":
        key.refresh_from_db()
        assert key.status == KeyStatus.ACTIVE
        assert (Partner.objects.count(), UsagePlan.objects.count(), PartnerApiKey.objects.count()) == (
            1,
            1,
            1,
        )


def test_admin_token_issues_a_key_and_gets_the_secret_once(
    token_client: APIClient, partner: Partner, plan: UsagePlan, django_capture_on_commit_callbacks: Any
) -> None:
    # When a script issues a key with an admin's token
    with django_capture_on_commit_callbacks(execute=True):
        answer = token_client.post(
            "/api/v1/partner-keys/",
            {
                "partner": partner.pk,
                "plan": plan.pk,
                "name": "Optus web",
                "expires_at": "2030-01-01T00:00:00Z",
            },
            format="json",
        )
    # Then the answer carries the secret, uncached; no later answer does
    assert answer.status_code == 201
    assert answer["Cache-Control"] == "no-store"
    secret = answer.json()["secret"]
    created = answer.json()["key"]
    assert len(secret) >= 40 and created["display"] == f"{secret[:10]}…{secret[-4:]}"
    assert created["sync"]["state"] == "synced" or created["sync"]["state"] == "pending"
    for url in ("/api/v1/partner-keys/", f"/api/v1/partner-keys/{created['id']}/", "/api/v1/partner-alerts/"):
        assert secret not in token_client.get(url).content.decode()
    assert "secret" not in token_client.get(f"/api/v1/partner-keys/{created['id']}/").json()


def test_issue_refuses_bad_input_with_field_errors(
    admin_user: User, partner: Partner, plan: UsagePlan
) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    answer = client.post(
        "/api/v1/partner-keys/", {"partner": partner.pk, "plan": 999, "name": ""}, format="json"
    )
    assert answer.status_code == 400
    assert set(answer.json()) >= {"plan", "name"}
    answer = client.post(
        "/api/v1/partner-keys/",
        {"partner": partner.pk, "plan": plan.pk, "name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert answer.status_code == 400 and "expires_at" in answer.json()


def test_plan_create_validates_like_aws_and_reads_back(admin_user: User) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    bad = {**PLAN_BODY, "quota_period": "YEAR", "api_stages": ["nope:prod"]}
    answer = client.post("/api/v1/usage-plans/", bad, format="json")
    assert answer.status_code == 400 and "quota_period" in answer.json()
    bad = {**PLAN_BODY, "quota_offset": 7, "api_stages": ["nope:prod"]}
    answer = client.post("/api/v1/usage-plans/", bad, format="json")
    assert answer.status_code == 400
    # (the method throttle names a stage the plan no longer has)
    assert set(answer.json()) == {"quota_offset", "api_stages", "method_throttles"}
    answer = client.post("/api/v1/usage-plans/", PLAN_BODY, format="json")
    assert answer.status_code == 201
    data = answer.json()
    assert data["rate_limit"] == 10.5
    assert data["quota"] == {"limit": 5000, "period": "WEEK", "offset": 1}
    assert data["method_throttles"] == [
        {"stage": STAGE, "path": "/feed/v1/{market}/GET", "rate": 2.0, "burst": 4}
    ]
    assert data["keys_count"] == 0


def test_plan_patch_changes_only_what_is_sent(admin_user: User, plan: UsagePlan) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    answer = client.patch(f"/api/v1/usage-plans/{plan.pk}/", {"quota_limit": None}, format="json")
    assert answer.status_code == 200
    assert answer.json()["quota"] is None and answer.json()["burst_limit"] == 500
    answer = client.patch(f"/api/v1/usage-plans/{plan.pk}/", {"burst_limit": 0}, format="json")
    assert answer.status_code == 400 and "burst_limit" in answer.json()


def test_rotate_top_up_usage_and_alerts_over_the_api(
    admin_user: User, key: PartnerApiKey, time_machine: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    time_machine.move_to(T0, tick=False)
    KeyUsage.objects.create(key=key, day=T0.date(), used=17_000, remaining=3_000)
    alerts = client.get("/api/v1/partner-alerts/").json()
    assert [(a["level"], a["key"]["id"]) for a in alerts["quota"]] == [(80, key.pk)]
    assert alerts["quota"][0]["key"]["usage"]["percent"] == 85.0
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            f"/api/v1/partner-keys/{key.pk}/top-ups/", {"amount": 5000, "reason": "agreed"}, format="json"
        )
    assert answer.status_code == 201 and answer.json()["reason"] == "agreed"
    assert answer.json()["created_by"] == "admin"
    usage = client.get(f"/api/v1/partner-keys/{key.pk}/usage/?days=7").json()
    assert len(usage) == 7 and usage[-1] == {"day": "2026-03-10", "used": 17000, "remaining": 3000}
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/api/v1/partner-keys/{key.pk}/rotate/", {"grace_hours": 1}, format="json")
    assert answer.status_code == 201 and answer.json()["key"]["replaces"] == key.pk
    key.refresh_from_db()
    assert key.expires_at == T0 + timedelta(hours=1)
    answer = client.post(f"/api/v1/partner-keys/{key.pk}/rotate/", {"grace_hours": 1}, format="json")
    assert answer.status_code == 400
    assert (
        client.post(f"/api/v1/partner-keys/{key.pk}/rotate/", {"grace_hours": 999}, format="json").status_code
        == 400
    )


def test_key_list_filters_and_stays_flat_in_queries(
    admin_user: User, issue: Callable[..., IssuedKey], django_assert_max_num_queries: Any
) -> None:
    keys = [issue(name=f"app {n}").key for n in range(8)]
    from accounts.partners.services import key_suspend

    key_suspend(actor=None, key=keys[0])
    client = APIClient()
    client.force_authenticate(admin_user)
    with django_assert_max_num_queries(5):
        answer = client.get("/api/v1/partner-keys/")
    assert len(answer.json()["results"]) == 8
    suspended = client.get("/api/v1/partner-keys/?status=suspended").json()["results"]
    assert [k["id"] for k in suspended] == [keys[0].pk]


def test_top_up_of_a_revoked_key_is_refused(admin_user: User, key: PartnerApiKey) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    assert client.post(f"/api/v1/partner-keys/{key.pk}/revoke/").json()["status"] == "revoked"
    answer = client.post(
        f"/api/v1/partner-keys/{key.pk}/top-ups/", {"amount": 1, "reason": "x"}, format="json"
    )
    assert answer.status_code == 400 and "amount" in answer.json()
    assert not QuotaTopUp.objects.exists()


def test_missing_objects_are_404(admin_user: User, db: None) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    for url in ("/api/v1/partners/99/", "/api/v1/usage-plans/99/", "/api/v1/partner-keys/99/"):
        assert client.get(url).status_code == 404


def test_replaces_is_documented_as_nullable_and_is_null_for_a_fresh_key(
    token_client: APIClient, key: PartnerApiKey
) -> None:
    # Given the schema and a key issued afresh (not by rotation)
    schema = token_client.get("/api/schema/?format=json").json()
    replaces = schema["components"]["schemas"]["PartnerKey"]["properties"]["replaces"]
    answer = token_client.get(f"/api/v1/partner-keys/{key.pk}/").json()

    # Then the contract says what the answer does: an integer id, or null
    assert replaces["type"] == "integer" and replaces.get("nullable") is True
    assert "rotation" in replaces.get("description", "")
    assert answer["replaces"] is None
    # And a rotated key names the key it replaced
    rotated = token_client.post(f"/api/v1/partner-keys/{key.pk}/rotate/", {"grace_hours": 0}, format="json")
    assert rotated.json()["key"]["replaces"] == key.pk
