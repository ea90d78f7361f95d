"""The partners pages: who may open them, the one-time secret, forms with inline errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.partners.models import KeyStatus, KeyUsage, Partner, PartnerApiKey, QuotaTopUp, UsagePlan
from accounts.partners.services import IssuedKey
from tests.partners.conftest import T0

DENIED_ROLES = ["editor", "au_editor", "au_manager", "reviewer", "nobody"]


@pytest.fixture
def key(issue: Callable[..., IssuedKey]) -> PartnerApiKey:
    return issue().key


def pages(partner: Partner, plan: UsagePlan, key: PartnerApiKey) -> list[str]:
    return [
        reverse("partners:list"),
        reverse("partners:create"),
        reverse("partners:detail", args=[partner.pk]),
        reverse("partners:edit", args=[partner.pk]),
        reverse("partners:plans"),
        reverse("partners:plan-create"),
        reverse("partners:plan-edit", args=[plan.pk]),
        reverse("partners:plan-delete", args=[plan.pk]),
        reverse("partners:keys"),
        reverse("partners:key-issue"),
        reverse("partners:key-detail", args=[key.pk]),
        reverse("partners:key-rotate", args=[key.pk]),
        reverse("partners:key-top-up", args=[key.pk]),
        reverse("partners:key-status", args=[key.pk, "suspend"]),
        reverse("partners:key-status", args=[key.pk, "revoke"]),
        reverse("partners:alerts"),
    ]


def posts(partner: Partner, plan: UsagePlan, key: PartnerApiKey) -> list[tuple[str, dict[str, Any]]]:
    return [
        (reverse("partners:create"), {"name": "Telstra"}),
        (reverse("partners:edit", args=[partner.pk]), {"name": "Optus 2", "active": "on"}),
        (reverse("partners:plan-create"), {"name": "Silver"}),
        (reverse("partners:plan-delete", args=[plan.pk]), {}),
        (reverse("partners:plan-retry", args=[plan.pk]), {}),
        (reverse("partners:key-issue"), {"partner": partner.pk, "plan": plan.pk, "name": "x"}),
        (reverse("partners:key-rotate", args=[key.pk]), {"grace": "0"}),
        (reverse("partners:key-top-up", args=[key.pk]), {"amount": 5, "reason": "x"}),
        (reverse("partners:key-status", args=[key.pk, "revoke"]), {}),
        (reverse("partners:key-retry", args=[key.pk]), {}),
        (reverse("partners:usage-refresh"), {}),
    ]


def test_admin_opens_every_page(
    admin_client: Client, partner: Partner, plan: UsagePlan, key: PartnerApiKey
) -> None:
    for url in pages(partner, plan, key):
        answer = admin_client.get(url)
        assert answer.status_code == 200, url


@pytest.mark.parametrize("role", DENIED_ROLES)
def test_other_roles_are_refused_every_page_and_action(
    role: str, request: pytest.FixtureRequest, partner: Partner, plan: UsagePlan, key: PartnerApiKey
) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(role))
    for url in pages(partner, plan, key):
        assert client.get(url).status_code == 403, url
    for url, data in posts(partner, plan, key):
        assert client.post(url, data).status_code == 403, url
    # And nothing changed
    key.refresh_from_db()
    assert key.status == KeyStatus.ACTIVE
    assert PartnerApiKey.objects.count() == 1 and Partner.objects.count() == 1
    assert not QuotaTopUp.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(partner: Partner, plan: UsagePlan, key: PartnerApiKey) -> None:
    client = Client()
    for url in pages(partner, plan, key):
        answer = client.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith(reverse("login")), url


def test_nav_shows_partners_to_admins_only(admin_client: Client, editor: User) -> None:
    assert 'href="/partners/"' in admin_client.get(reverse("dashboard")).content.decode()
    client = Client()
    client.force_login(editor)
    assert 'href="/partners/"' not in client.get(reverse("dashboard")).content.decode()


# --- Sam's journey ---------------------------------------------------------------------------------
def test_onboarding_a_partner_plan_and_key_shows_the_secret_once(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # Given Sam adds Optus and the Partner Gold plan
    answer = admin_client.post(
        reverse("partners:create"), {"name": "Optus", "contact_email": "p@optus.example", "active": "on"}
    )
    partner = Partner.objects.get(name="Optus")
    assert answer.status_code == 302 and answer["Location"] == reverse("partners:detail", args=[partner.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse("partners:plan-create"),
            {
                "name": "Partner Gold",
                "rate_limit": "50",
                "burst_limit": "500",
                "quota_limit": "20000",
                "quota_period": "MONTH",
                "quota_offset": "0",
                "api_stages": "meridian:local",
            },
        )
    assert answer.status_code == 302
    plan = UsagePlan.objects.get(name="Partner Gold")
    assert plan.sync_state == "synced"

    # When he issues a key
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse("partners:key-issue"), {"partner": partner.pk, "plan": plan.pk, "name": "Optus TV app"}
        )

    # Then the answer shows the secret in a dialog with a copy button, uncached
    key = PartnerApiKey.objects.get()
    body = answer.content.decode()
    assert answer.status_code == 201
    assert answer["Cache-Control"] == "no-store"
    secret = body.split('id="partner-secret" value="', 1)[1].split('"', 1)[0]
    assert len(secret) >= 40 and secret.startswith(key.prefix) and secret.endswith(key.last_four)
    assert "data-one-time-secret" in body and 'data-copy-target="partner-secret"' in body
    assert "js/partners.js" in body
    assert "<script>" not in body and "onclick" not in body
    # And never again: not on the key's page, the keys list, the partner page
    for url in (
        reverse("partners:key-detail", args=[key.pk]),
        reverse("partners:keys"),
        reverse("partners:detail", args=[partner.pk]),
    ):
        page = admin_client.get(url).content.decode()
        assert secret not in page
        assert key.display in page
    # And the key works
    assert Client().get("/partners/probe/", headers={"x-api-key": secret}).status_code == 200


def test_rotate_offers_grace_choices_and_shows_the_new_secret(
    admin_client: Client, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    form = admin_client.get(reverse("partners:key-rotate", args=[key.pk])).content.decode()
    assert 'type="radio" name="grace" value="24"' in form and "checked" in form
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(reverse("partners:key-rotate", args=[key.pk]), {"grace": "24"})
    assert answer.status_code == 201
    new = PartnerApiKey.objects.get(replaces=key)
    assert new.prefix in answer.content.decode()
    assert "keeps working until" in answer.content.decode()
    key.refresh_from_db()
    assert key.expires_at is not None


def test_suspend_resume_revoke_via_confirmation_pages(
    admin_client: Client, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    confirm = admin_client.get(reverse("partners:key-status", args=[key.pk, "revoke"])).content.decode()
    assert "permanent" in confirm and 'class="danger"' in confirm
    for action, status in (("suspend", "suspended"), ("resume", "active"), ("revoke", "revoked")):
        with django_capture_on_commit_callbacks(execute=True):
            answer = admin_client.post(reverse("partners:key-status", args=[key.pk, action]), follow=True)
        key.refresh_from_db()
        assert key.status == status
        assert f"Key {key.display}" in answer.content.decode()
    # A revoked key cannot be resumed: the error is shown, nothing changes
    answer = admin_client.post(reverse("partners:key-status", args=[key.pk, "resume"]), follow=True)
    assert "cannot be resumed" in answer.content.decode()
    key.refresh_from_db()
    assert key.status == KeyStatus.REVOKED


def test_top_up_form_shows_errors_inline_and_records_the_reason(
    admin_client: Client, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    answer = admin_client.post(reverse("partners:key-top-up", args=[key.pk]), {"amount": "0", "reason": ""})
    body = answer.content.decode()
    assert answer.status_code == 200
    assert "errorlist" in body and "This field is required" in body
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse("partners:key-top-up", args=[key.pk]),
            {"amount": "5000", "reason": "passed 80 %"},
            follow=True,
        )
    assert "topped up by 5,000 requests" in answer.content.decode()
    assert QuotaTopUp.objects.get().reason == "passed 80 %"
    assert "passed 80 %" in admin_client.get(reverse("partners:key-detail", args=[key.pk])).content.decode()


def test_plan_form_shows_service_errors_next_to_the_fields(admin_client: Client) -> None:
    answer = admin_client.post(
        reverse("partners:plan-create"),
        {
            "name": "Weekly",
            "rate_limit": "5",
            "burst_limit": "10",
            "quota_limit": "100",
            "quota_period": "WEEK",
            "quota_offset": "9",
            "api_stages": "abc123:prod\nmeridian:local",
            "method_throttles": "nonsense",
        },
    )
    body = answer.content.decode()
    assert answer.status_code == 200
    assert "Line 1: write apiId:stage /resource/METHOD rate burst." in body
    assert not UsagePlan.objects.exists()
    answer = admin_client.post(
        reverse("partners:plan-create"),
        {
            "name": "Weekly",
            "rate_limit": "5",
            "burst_limit": "10",
            "quota_limit": "100",
            "quota_period": "WEEK",
            "quota_offset": "9",
            "api_stages": "abc123:prod\nmeridian:local",
        },
    )
    body = answer.content.decode()
    assert "0 (Sunday) to 6 (Saturday)" in body
    assert "No stage &#x27;abc123:prod&#x27;" in body
    assert not UsagePlan.objects.exists()


def test_plan_edit_and_delete(
    admin_client: Client, plan: UsagePlan, key: PartnerApiKey, django_capture_on_commit_callbacks: Any
) -> None:
    page = admin_client.get(reverse("partners:plan-edit", args=[plan.pk])).content.decode()
    assert "1 usable key on this plan" in page and 'value="Partner Gold"' in page
    answer = admin_client.post(reverse("partners:plan-delete", args=[plan.pk]), follow=True)
    assert "1 active or suspended key(s) use this plan" in answer.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("partners:key-status", args=[key.pk, "revoke"]))
        answer = admin_client.post(reverse("partners:plan-delete", args=[plan.pk]), follow=True)
    assert "Usage plan Partner Gold deleted." in answer.content.decode()
    assert "Partner Gold" not in admin_client.get(reverse("partners:plans")).content.decode()


def test_keys_table_shows_prefix_status_expiry_and_usage_bar(
    admin_client: Client,
    issue: Callable[..., IssuedKey],
    django_assert_max_num_queries: Any,
    time_machine: Any,
) -> None:
    time_machine.move_to(T0, tick=False)
    keys = [issue(name=f"app {n}", expires_at=T0 + timedelta(days=3)).key for n in range(12)]
    KeyUsage.objects.create(key=keys[0], day=T0.date(), used=16_500, remaining=3_500)
    with django_assert_max_num_queries(9):
        answer = admin_client.get(reverse("partners:keys"))
    body = answer.content.decode()
    assert all(k.display in body for k in keys)
    assert '<meter min="0" max="20000"' in body and 'value="16500"' in body
    assert "today 16,500 · period 16,500 / 20,000 (82%)" in body
    assert "2026-03-13 12:00" in body
    filtered = admin_client.get(reverse("partners:keys") + "?status=revoked").content.decode()
    assert "No keys match." in filtered


def test_dashboard_alerts_page_lists_quota_and_expiry(
    admin_client: Client, issue: Callable[..., IssuedKey], time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    spent = issue(name="busy app").key
    KeyUsage.objects.create(key=spent, day=T0.date(), used=20_000, remaining=0)
    issue(name="old app", expires_at=T0 + timedelta(days=2))
    body = admin_client.get(reverse("partners:alerts")).content.decode()
    assert "quota spent" in body and "busy app" in body
    assert "Expiring within 7 days" in body and "old app" in body
    partial = admin_client.get(reverse("partners:alerts"), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and "busy app" in partial


def test_key_detail_shows_the_30_day_chart_as_svg(
    admin_client: Client, key: PartnerApiKey, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    KeyUsage.objects.create(key=key, day=T0.date(), used=700, remaining=19_300)
    body = admin_client.get(reverse("partners:key-detail", args=[key.pk])).content.decode()
    assert body.count('<rect class="bar"') == 30
    assert '<polyline class="quota"' in body and 'role="img"' in body
    assert "Show the figures" in body


def test_usage_refresh_never_redirects_off_site(admin_client: Client, key: PartnerApiKey) -> None:
    answer = admin_client.post(reverse("partners:usage-refresh"), {"next": "https://evil.example/"})
    assert answer["Location"] == reverse("partners:keys")
    answer = admin_client.post(reverse("partners:usage-refresh"), {"next": "/partners/keys/?status=active"})
    assert answer["Location"] == "/partners/keys/?status=active"


def test_failed_sync_shows_the_error_and_a_retry_button(
    admin_client: Client, plan: UsagePlan, key: PartnerApiKey
) -> None:
    PartnerApiKey.objects.filter(pk=key.pk).update(sync_state="failed", sync_error="TooManyRequestsException")
    body = admin_client.get(reverse("partners:key-detail", args=[key.pk])).content.decode()
    assert "TooManyRequestsException" in body and reverse("partners:key-retry", args=[key.pk]) in body
    assert "failed to sync" in admin_client.get(reverse("partners:list")).content.decode()
    answer = admin_client.post(reverse("partners:key-retry", args=[key.pk]), follow=True)
    assert "is on the gateway" in answer.content.decode()
    key.refresh_from_db()
    assert key.sync_state == "synced"
