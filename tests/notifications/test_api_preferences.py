"""The preference API: every user reads and sets their own channels; only admins read and set a
role's defaults, which cannot switch on an opt-in kind; strict JSON types, field errors, no N+1."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from portal.audit.models import AuditEntry
from portal.notifications.models import Preference

PREFS = "/api/v1/notifications/preferences/"
DEFAULTS = "/api/v1/notifications/defaults/{role}/"


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(r for r in rows if r["kind"] == kind)


def test_a_user_reads_and_sets_their_own_channels(reviewer: User, django_assert_max_num_queries: Any) -> None:
    client = client_for(reviewer)
    with django_assert_max_num_queries(6):
        rows = client.get(PREFS).json()
    assert row(rows, "label_queue")["channels"] == {"inbox": True, "email": False, "digest": False}
    assert row(rows, "my_window") == {
        "kind": "my_window",
        "label": "A window I set starts or ends within 24 hours",
        "opt_in": True,
        "channels": {"inbox": False, "email": False, "digest": False},
        "own": {},
    }
    response = client.patch(
        PREFS,
        {"kinds": {"label_queue": {"email": True}, "my_window": {"inbox": True}}},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert row(response.json(), "label_queue")["own"] == {"email": True}
    assert row(response.json(), "my_window")["channels"]["inbox"] is True
    assert set(Preference.objects.filter(user=reviewer).values_list("kind", "channel", "enabled")) == {
        ("label_queue", "email", True),
        ("my_window", "inbox", True),
    }
    assert (
        AuditEntry.objects.filter(action="notification.preferences", object_id=str(reviewer.pk)).count() == 1
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kinds": {"label_queue": {"email": "true"}}},
        {"kinds": {"label_queue": {"email": 1}}},
        {"kinds": {"label_queue": {"sms": True}}},
        {"kinds": {"nope": {"email": True}}},
        {"kinds": {}},
        {"kinds": ["label_queue"]},
        {"kinds": {"label_queue": {"email": True}}, "extra": 1},
        {},
        [],
    ],
)
def test_bad_bodies_are_field_errors_and_change_nothing(reviewer: User, body: Any) -> None:
    response = client_for(reviewer).patch(PREFS, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Preference.objects.exists()


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_only_admins_read_and_set_role_defaults(request: pytest.FixtureRequest, role: str) -> None:
    client = client_for(request.getfixturevalue(role))
    assert client.get(DEFAULTS.format(role="reviewer")).status_code == 403
    body = {"kinds": {"label_queue": {"email": True}}}
    assert (
        client.patch(DEFAULTS.format(role="reviewer"), body, content_type="application/json").status_code
        == 403
    )
    assert not Preference.objects.exists()


def test_an_admin_sets_a_roles_defaults_but_not_for_opt_in_kinds(
    admin_user: User, reviewer: User, django_assert_max_num_queries: Any
) -> None:
    client = client_for(admin_user)
    with django_assert_max_num_queries(6):
        rows = client.get(DEFAULTS.format(role="reviewer")).json()
    assert "my_window" not in {r["kind"] for r in rows}
    response = client.patch(
        DEFAULTS.format(role="reviewer"),
        {"kinds": {"label_queue": {"email": True}}},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert row(response.json(), "label_queue")["channels"]["email"] is True
    # The reviewer now gets email for the label queue by default
    assert row(client_for(reviewer).get(PREFS).json(), "label_queue")["channels"]["email"] is True
    # An opt-in kind and an unknown role are refused
    opt_in = client.patch(
        DEFAULTS.format(role="reviewer"),
        {"kinds": {"my_window": {"inbox": True}}},
        content_type="application/json",
    )
    assert opt_in.status_code == 400 and "my_window" in opt_in.json()["kinds"][0]
    assert client.get(DEFAULTS.format(role="wizard")).status_code == 404
    assert AuditEntry.objects.filter(action="notification.defaults", object_id="reviewer").count() == 1


@pytest.mark.django_db
def test_anonymous_callers_are_refused() -> None:
    assert Client().get(PREFS).status_code in (401, 403)
    assert Client().get(DEFAULTS.format(role="admin")).status_code in (401, 403)
