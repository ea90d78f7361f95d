"""The notification pages and API: every user sees their own inbox only; webhooks and role
defaults are admins' only; the bell shows the unread count."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Membership, User
from markets.models import Market
from portal.notifications.models import Preference, Receipt, WebhookEndpoint
from portal.notifications.selectors import preferences_for
from portal.notifications.services import notifications_deliver, notifications_detect, role_defaults_set
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.notifications.conftest import T0

ADMIN_PAGES = ["/notifications/webhooks/", "/notifications/defaults/"]


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alerts(au: Market, de: Market, admin_user: User, au_manager: User, de_manager: User) -> None:
    for code in ("AU", "DE"):
        OutboxEntry.objects.create(kind="market", key=code, version=1, status=OutboxStatus.DEAD)
    notifications_detect(now=T0)


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_webhook_and_default_pages_refuse_everyone_but_admins(
    request: pytest.FixtureRequest, role: str
) -> None:
    client = client_for(request.getfixturevalue(role))
    for url in ADMIN_PAGES:
        response = client.get(url)
        assert response.status_code == 403 and b"data-portal-refusal" in response.content
    response = client.post("/notifications/webhooks/", {"name": "x", "url": "https://93.184.216.34/"})
    assert response.status_code == 403 and not WebhookEndpoint.objects.exists()


def test_an_admin_registers_a_webhook_and_sees_its_secret_once(admin_user: User) -> None:
    client = client_for(admin_user)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 200
    response = client.post(
        "/notifications/webhooks/",
        {"name": "Ops", "url": "http://127.0.0.1:9/hook", "kinds": ["partner_quota", "outbox_backlog"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200 and endpoint.secret.encode() in response.content
    detail = client.get(f"/notifications/webhooks/{endpoint.pk}/")
    assert detail.status_code == 200 and endpoint.secret.encode() not in detail.content
    refused = client.post(
        "/notifications/webhooks/", {"name": "x", "url": "https://10.0.0.1/", "kinds": ["x"]}
    )
    assert refused.status_code == 200 and WebhookEndpoint.objects.count() == 1


@pytest.mark.usefixtures("alerts")
def test_each_user_sees_their_own_inbox_only(
    au_manager: User, de_manager: User, django_assert_max_num_queries: Any
) -> None:
    client = client_for(au_manager)
    with django_assert_max_num_queries(12):
        page = client.get("/notifications/")
    assert b"in AU could not be published" in page.content and b"in DE" not in page.content
    # Opening someone else's notification is a 404, and marks nothing
    theirs = Receipt.objects.get(user=de_manager)
    assert client.post(f"/notifications/{theirs.pk}/open/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # Opening one's own marks it read and goes to the page that resolves it
    mine = Receipt.objects.get(user=au_manager)
    response = client.post(f"/notifications/{mine.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/markets/AU/"
    mine.refresh_from_db()
    assert mine.read_at is not None


@pytest.mark.usefixtures("alerts")
def test_the_bell_shows_the_unread_count_and_read_all_clears_it(admin_user: User) -> None:
    client = client_for(admin_user)
    bell = client.get("/notifications/bell/", HTTP_HX_REQUEST="true")
    assert b'id="notification-count">2<' in bell.content
    assert b'hx-get="/notifications/bell/"' in client.get("/").content
    client.post("/notifications/read-all/")
    assert b"notification-count" not in client.get("/notifications/bell/").content
    unread = client.get("/notifications/?unread=1")
    assert b"No notifications match this filter" in unread.content


@pytest.mark.usefixtures("alerts")
def test_the_api_lists_and_marks_only_ones_own(
    au_manager: User, de_manager: User, django_assert_max_num_queries: Any
) -> None:
    client = client_for(au_manager)
    with django_assert_max_num_queries(6):
        listed = client.get("/api/v1/notifications/").json()["results"]
    assert [n["market"] for n in listed] == ["AU"]
    theirs = Receipt.objects.get(user=de_manager)
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    mine = Receipt.objects.get(user=au_manager)
    assert client.post(f"/api/v1/notifications/{mine.pk}/read/").json() == {"marked": 1, "unread": 0}
    assert client.get("/api/v1/notifications/?unread=true").json()["results"] == []
    assert Client().get("/api/v1/notifications/").status_code in (401, 403)


def test_preferences_save_per_kind_and_channel(reviewer: User, admin_user: User) -> None:
    client = client_for(reviewer)
    assert client.get("/notifications/preferences/").status_code == 200
    # The form as the browser sends it: every ticked box, plus the one she ticked (email for the queue)
    ticked = {
        f"{row.kind}__{channel}": "on"
        for row in preferences_for(user=reviewer)
        for channel, on in row.channels.items()
        if on
    }
    response = client.post("/notifications/preferences/", {**ticked, "label_queue__email": "on"})
    assert response.status_code == 302
    stored = dict(
        Preference.objects.filter(user=reviewer, kind="label_queue").values_list("channel", "enabled")
    )
    # Only the box she changed is her own choice: the others keep following her role's defaults
    assert stored == {"email": True}
    row = next(r for r in preferences_for(user=reviewer) if r.kind == "label_queue")
    assert row.own == stored
    assert not Preference.objects.filter(user=reviewer).exclude(kind="label_queue").exists()
    # So a default an admin sets later still reaches her, where she did not choose
    role_defaults_set(
        actor=admin_user,
        role="reviewer",
        choices={("label_jobs_failed", "email"): True, ("label_queue", "email"): False},
    )
    rows = {r.kind: r.channels["email"] for r in preferences_for(user=reviewer)}
    assert rows["label_jobs_failed"] is True and rows["label_queue"] is True


@pytest.mark.usefixtures("alerts")
def test_a_user_who_loses_a_market_no_longer_sees_or_gets_its_notifications(
    au_manager: User, admin_user: User
) -> None:
    # Given the AU manager was told about AU's dead letter, by inbox and email
    mine = Receipt.objects.get(user=au_manager)
    Receipt.objects.filter(pk=mine.pk).update(email_due=True)
    User.objects.filter(pk=au_manager.pk).update(email="ana@example.com")
    # When they lose AU before the email goes out
    Membership.objects.filter(user=au_manager, market__code="AU").delete()
    au_manager = User.objects.get(pk=au_manager.pk)
    notifications_deliver()
    # Then no email is sent, the inbox, the bell and the API hide it, and opening it is a 404
    assert mail.outbox == []
    client = client_for(au_manager)
    assert b"in AU could not be published" not in client.get("/notifications/").content
    assert b"notification-count" not in client.get("/notifications/bell/").content
    assert client.get("/api/v1/notifications/").json()["results"] == []
    assert client.post(f"/notifications/{mine.pk}/open/").status_code == 404
    # While the admin still sees theirs
    assert b"in AU could not be published" in client_for(admin_user).get("/notifications/").content


@pytest.mark.usefixtures("alerts")
def test_the_inbox_filter_swaps_only_the_list_with_htmx(admin_user: User) -> None:
    client = client_for(admin_user)
    page = client.get("/notifications/")
    assert b'hx-target="#inbox-results"' in page.content and b"<html" in page.content
    fragment = client.get("/notifications/?kind=label_queue", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert b"No notifications match this filter" in fragment.content
    both = client.get("/notifications/?kind=publish_dead_letters", HTTP_HX_REQUEST="true")
    assert both.content.count(b'class="card notification ') == 2
    assert "HX-Request" in both["Vary"]
