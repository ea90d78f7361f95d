"""Login abuse: django-axes locks an IP (and a user from that IP) after 5 failures for 15 minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import api_token_create
from markets.models import Market
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"
IP_A, IP_B = "203.0.113.10", "198.51.100.20"


@pytest.fixture(autouse=True)
def axes_on(settings: pytest.FixtureRequest) -> None:
    # The test settings switch axes off because Client.login() gives authenticate() no request.
    settings.AXES_ENABLED = True  # type: ignore[attr-defined]


def _login(username: str, password: str, ip: str) -> tuple[int, str]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("login"), {"username": username, "password": password})
    return response.status_code, response.content.decode()


def _fail(username: str, ip: str, times: int) -> list[int]:
    return [_login(username, "wrong-password", ip)[0] for _ in range(times)]


def test_five_failures_lock_the_user_from_that_ip_with_a_clear_page(editor: User) -> None:
    # Given four failures, the fifth still answers the form
    _fail("editor", IP_A, 4)
    assert _login("editor", PASSWORD, IP_A)[0] == 302
    # (a success resets: start again from zero)
    # When five failures follow: the form with its error four times, then the lockout
    assert _fail("editor", IP_A, 5) == [200, 200, 200, 200, 429]
    # And the right password comes after the fifth failure
    status, body = _login("editor", PASSWORD, IP_A)
    # Then it is refused with the lockout page, 429, inside the portal's layout
    assert status == 429
    assert "Too many failed logins" in body
    assert "paused for 15 minutes" in body
    assert 'class="topbar"' in body


def test_a_locked_ip_locks_every_user_there_but_not_the_user_elsewhere(editor: User, reviewer: User) -> None:
    # Given five failures for editor from IP A
    _fail("editor", IP_A, 5)
    # Then another user from IP A is refused too (password spraying from one address stops)
    assert _login("reviewer", PASSWORD, IP_A)[0] == 429
    # And editor from another address is not locked out (nobody can lock a user out from afar)
    assert _login("editor", PASSWORD, IP_B)[0] == 302


def test_failures_spread_over_users_from_one_ip_lock_that_ip(editor: User, reviewer: User) -> None:
    # Given failures for several usernames from one address (spraying), none reaching 5 alone
    _fail("editor", IP_A, 2)
    _fail("reviewer", IP_A, 2)
    assert _fail("nobody-here", IP_A, 1) == [429]
    # Then the address is locked
    assert _login("editor", PASSWORD, IP_A)[0] == 429


def test_success_resets_the_failure_count(editor: User) -> None:
    # Given four failures and then a success
    assert _fail("editor", IP_A, 4) == [200] * 4
    assert _login("editor", PASSWORD, IP_A)[0] == 302
    # When four more failures follow
    _fail("editor", IP_A, 4)
    # Then the user may still log in (the count restarted at the success)
    assert _login("editor", PASSWORD, IP_A)[0] == 302


def test_the_lock_ends_after_the_cool_off(editor: User) -> None:
    # Given a lockout
    _fail("editor", IP_A, 5)
    assert _login("editor", PASSWORD, IP_A)[0] == 429
    # When 15 minutes have passed
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=5)):
        # Then the right password works again
        assert _login("editor", PASSWORD, IP_A)[0] == 302


def test_the_reset_command_unlocks_a_user(editor: User) -> None:
    # Given a locked-out user
    _fail("editor", IP_A, 5)
    assert _login("editor", PASSWORD, IP_A)[0] == 429
    # When an operator runs manage.py axes_reset_username editor
    call_command("axes_reset_username", "editor")
    # Then the user can log in from that address again
    assert _login("editor", PASSWORD, IP_A)[0] == 302


def test_a_django_admin_unlocks_by_deleting_the_access_attempt(editor: User) -> None:
    # Given a locked-out user and a staff superuser
    _fail("editor", IP_A, 5)
    assert _login("editor", PASSWORD, IP_A)[0] == 429
    staff = UserFactory(username="ops", is_staff=True, is_superuser=True)
    admin_client = Client(REMOTE_ADDR=IP_B)
    admin_client.force_login(staff)
    changelist = reverse("admin:axes_accessattempt_changelist")
    # When the admin lists the attempts and deletes the locked one
    page = admin_client.get(changelist)
    assert page.status_code == 200 and "editor" in page.content.decode()
    attempt = AccessAttempt.objects.get(username="editor")
    response = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )
    # Then the attempt is gone and the user can log in again
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _login("editor", PASSWORD, IP_A)[0] == 302


def test_a_non_staff_user_cannot_reach_the_unlock_page(editor: User) -> None:
    # Given a portal user without staff rights
    client = Client(REMOTE_ADDR=IP_B)
    client.force_login(editor)
    # When they open the access attempts in the Django admin
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    # Then they are sent to the admin login instead
    assert response.status_code == 302
    assert "/django-admin/login/" in response["Location"]


def test_api_token_auth_is_not_affected_by_a_locked_ip(editor: User, au: Market) -> None:
    # Given a locked address and an API token
    _fail("editor", IP_A, 5)
    assert _login("editor", PASSWORD, IP_A)[0] == 429
    secret = api_token_create(actor=editor, user=editor, name="pipeline").secret
    failures = AccessAttempt.objects.get(username="editor").failures_since_start
    # When automation calls the API from that address with its token
    client = Client(REMOTE_ADDR=IP_A)
    response = client.get("/api/v1/markets/", HTTP_AUTHORIZATION=f"Token {secret}")
    # Then it is answered: tokens never pass through authenticate(), so axes does not apply
    assert response.status_code == 200
    # And a wrong token is refused as 401/403, not counted as a login failure
    bad = client.get("/api/v1/markets/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.status_code in (401, 403)
    assert AccessAttempt.objects.get(username="editor").failures_since_start == failures
