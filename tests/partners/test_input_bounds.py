"""Partner API input (issue #12): typed and bounded, refused with field errors rather than guessed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from accounts.partners.services import IssuedKey
from portal.bounds import NOTE_MAX
from tests.hardening.test_bad_input import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user: User) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def key(issue: Callable[..., IssuedKey]) -> PartnerApiKey:
    return issue().key


def test_a_key_expiry_without_a_time_zone_is_refused(
    api: APIClient, partner: Partner, plan: UsagePlan
) -> None:
    before = snapshot()
    body = {"partner": partner.pk, "plan": plan.pk, "name": "web", "expires_at": "2027-01-01T00:00:00"}
    answer = api.post("/api/v1/partner-keys/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content[:300]
    assert "expires_at" in answer.json()
    assert snapshot() == before


@pytest.mark.parametrize("days", ["abc", "%C2%B2", "0", "91", "9" * 5000])
def test_usage_days_that_are_not_1_to_90_are_a_400(days: str, api: APIClient, key: PartnerApiKey) -> None:
    answer = api.get(f"/api/v1/partner-keys/{key.pk}/usage/?days={days}")
    assert answer.status_code == 400, answer.content[:300]
    assert "days" in answer.json()


def test_usage_days_in_range_answer(api: APIClient, key: PartnerApiKey) -> None:
    answer = api.get(f"/api/v1/partner-keys/{key.pk}/usage/?days=7")
    assert answer.status_code == 200
    assert len(answer.json()) == 7


BODIES: list[tuple[str, Any, str]] = [
    ("/api/v1/partners/", {"name": "p", "notes": "n" * (NOTE_MAX + 1)}, "notes"),
    ("/api/v1/partners/", {"name": 12}, "name"),
    (
        "/api/v1/usage-plans/",
        {"name": "p", "rate_limit": 1, "burst_limit": "5", "api_stages": ["meridian:local"]},
        "burst_limit",
    ),
    (
        "/api/v1/usage-plans/",
        {
            "name": "p",
            "description": "d" * (NOTE_MAX + 1),
            "rate_limit": 1,
            "burst_limit": 5,
            "api_stages": ["meridian:local"],
        },
        "description",
    ),
]


@pytest.mark.parametrize(("path", "body", "field"), BODIES)
def test_partner_writes_refuse_long_text_and_quoted_numbers(
    path: str, body: Any, field: str, api: APIClient
) -> None:
    before = snapshot()
    answer = api.post(path, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content[:300]
    assert field in answer.json(), answer.json()
    assert snapshot() == before


def test_a_top_up_amount_as_a_string_is_refused(api: APIClient, key: PartnerApiKey) -> None:
    body = {"amount": "10", "reason": "r"}
    answer = api.post(
        f"/api/v1/partner-keys/{key.pk}/top-ups/", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 400
    assert "amount" in answer.json()
