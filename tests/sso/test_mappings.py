"""Group mappings: admins list, add and delete them (page and API); everyone else is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.access import AccessDenied
from accounts.models import Role, User
from accounts.services import api_token_create
from accounts.sso.models import SsoGroupMapping
from accounts.sso.services import sso_mapping_create, sso_mapping_delete
from markets.models import Market
from portal.models import AuditEntry

pytestmark = pytest.mark.django_db


def _token(user: User) -> str:
    return f"Token {api_token_create(actor=user, user=user, name='t').secret}"


# --- services -----------------------------------------------------------------------------------
def test_an_admin_creates_and_deletes_a_mapping_with_audit_entries(admin_user: User, de: Market) -> None:
    mapping = sso_mapping_create(
        actor=admin_user, group_name=" meridian-managers-de ", role=Role.MARKET_MANAGER, market=de
    )
    assert (mapping.group_name, mapping.market_id, mapping.created_by_id) == (
        "meridian-managers-de",
        de.pk,
        admin_user.pk,
    )
    created = AuditEntry.objects.get(action="sso_mapping.create")
    assert created.after == {"group_name": "meridian-managers-de", "role": "market_manager", "market": "DE"}
    assert created.market_code == "DE" and created.actor_id == admin_user.pk

    sso_mapping_delete(actor=admin_user, mapping=mapping)
    assert not SsoGroupMapping.objects.exists()
    assert AuditEntry.objects.get(action="sso_mapping.delete").before["group_name"] == "meridian-managers-de"


@pytest.mark.parametrize("who", ["editor", "au_manager", "reviewer", "nobody"])
def test_no_one_but_an_admin_may_create_or_delete_a_mapping(
    request: pytest.FixtureRequest, who: str, au: Market
) -> None:
    user: User = request.getfixturevalue(who)
    with pytest.raises(AccessDenied):
        sso_mapping_create(actor=user, group_name="g", role=Role.ADMIN)
    mapping = SsoGroupMapping.objects.create(group_name="g", role=Role.EDITOR, market=au)
    with pytest.raises(AccessDenied):
        sso_mapping_delete(actor=user, mapping=mapping)
    assert SsoGroupMapping.objects.count() == 1 and not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("group", "role", "with_market", "field"),
    [
        ("", Role.EDITOR, False, "group_name"),
        ("g", Role.ADMIN, True, "market"),
        ("g", "owner", False, "role"),
    ],
)
def test_bad_mappings_are_refused(
    admin_user: User, au: Market, group: str, role: str, with_market: bool, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        sso_mapping_create(actor=admin_user, group_name=group, role=role, market=au if with_market else None)
    assert field in refused.value.message_dict
    assert not SsoGroupMapping.objects.exists()


def test_a_duplicate_mapping_is_refused(admin_user: User) -> None:
    sso_mapping_create(actor=admin_user, group_name="meridian-admins", role=Role.ADMIN)
    with pytest.raises(ValidationError):
        sso_mapping_create(actor=admin_user, group_name="meridian-admins", role=Role.ADMIN)


# --- the portal page ----------------------------------------------------------------------------
def test_the_admin_page_lists_adds_and_deletes(client: Client, admin_user: User, au: Market) -> None:
    client.force_login(admin_user)
    assert "No mappings yet" in client.get("/accounts/sso/mappings/").content.decode()
    response = client.post(
        "/accounts/sso/mappings/", {"group_name": "meridian-editors-au", "role": "editor", "market": "AU"}
    )
    assert response.status_code == 302
    mapping = SsoGroupMapping.objects.get()
    html = client.get("/accounts/sso/mappings/").content.decode()
    assert "meridian-editors-au" in html and "SSO groups" in html
    assert client.post(f"/accounts/sso/mappings/{mapping.pk}/delete/").status_code == 302
    assert not SsoGroupMapping.objects.exists()


def test_the_admin_page_shows_field_errors(client: Client, admin_user: User, au: Market) -> None:
    client.force_login(admin_user)
    response = client.post(
        "/accounts/sso/mappings/", {"group_name": "meridian-admins", "role": "admin", "market": "AU"}
    )
    assert response.status_code == 400
    assert "applies to all markets" in response.content.decode()
    assert not SsoGroupMapping.objects.exists()


def test_the_page_lists_without_n_plus_one(
    client: Client, admin_user: User, au: Market, de: Market, django_assert_max_num_queries: Any
) -> None:
    for n in range(20):
        SsoGroupMapping.objects.create(group_name=f"g{n}", role=Role.EDITOR, market=au if n % 2 else de)
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        assert client.get("/accounts/sso/mappings/").status_code == 200


@pytest.mark.parametrize("who", ["editor", "au_manager", "reviewer", "nobody"])
def test_the_page_refuses_non_admins(
    request: pytest.FixtureRequest, client: Client, who: str, au: Market
) -> None:
    mapping = SsoGroupMapping.objects.create(group_name="g", role=Role.EDITOR, market=au)
    client.force_login(request.getfixturevalue(who))
    assert client.get("/accounts/sso/mappings/").status_code == 403
    assert client.post("/accounts/sso/mappings/", {"group_name": "x", "role": "admin"}).status_code == 403
    assert client.post(f"/accounts/sso/mappings/{mapping.pk}/delete/").status_code == 403
    assert SsoGroupMapping.objects.count() == 1
    assert "SSO groups" not in client.get("/").content.decode()


def test_the_page_needs_a_login(client: Client) -> None:
    assert client.get("/accounts/sso/mappings/")["Location"].startswith("/accounts/login/")


# --- the REST API -------------------------------------------------------------------------------
def test_an_admin_manages_mappings_through_the_api(admin_user: User, au: Market) -> None:
    api = Client(HTTP_AUTHORIZATION=_token(admin_user))
    created = api.post(
        "/api/v1/sso/mappings/",
        {"group_name": "meridian-editors-au", "role": "editor", "market": "AU"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["group_name"], body["role"], body["market"]) == ("meridian-editors-au", "editor", "AU")
    everywhere = api.post(
        "/api/v1/sso/mappings/",
        {"group_name": "meridian-admins", "role": "admin"},
        content_type="application/json",
    )
    assert everywhere.status_code == 201 and everywhere.json()["market"] is None

    listed = api.get("/api/v1/sso/mappings/").json()["results"]
    assert {row["group_name"] for row in listed} == {"meridian-editors-au", "meridian-admins"}
    assert api.delete(f"/api/v1/sso/mappings/{body['id']}/").status_code == 204
    assert api.delete(f"/api/v1/sso/mappings/{body['id']}/").status_code == 404
    assert AuditEntry.objects.filter(action__startswith="sso_mapping.", via="api").count() == 3


def test_the_api_refuses_bad_input_with_field_errors(admin_user: User, au: Market) -> None:
    api = Client(HTTP_AUTHORIZATION=_token(admin_user))
    for payload, field in [
        ({"group_name": "g", "role": "admin", "market": "AU"}, "market"),
        ({"group_name": "g", "role": "editor", "market": "ZZ"}, "market"),
        ({"group_name": 3, "role": "editor"}, "group_name"),
        ({"group_name": "g", "role": "owner"}, "role"),
        ({"group_name": "g", "role": "editor", "extra": 1}, "extra"),
    ]:
        response = api.post("/api/v1/sso/mappings/", payload, content_type="application/json")
        assert response.status_code == 400, payload
        assert field in str(response.json()), (payload, response.json())
    assert not SsoGroupMapping.objects.exists()


@pytest.mark.parametrize("who", ["editor", "au_manager", "reviewer", "nobody"])
def test_the_api_refuses_non_admins(request: pytest.FixtureRequest, who: str, au: Market) -> None:
    mapping = SsoGroupMapping.objects.create(group_name="g", role=Role.EDITOR, market=au)
    api = Client(HTTP_AUTHORIZATION=_token(request.getfixturevalue(who)))
    assert api.get("/api/v1/sso/mappings/").status_code == 403
    assert (
        api.post(
            "/api/v1/sso/mappings/", {"group_name": "x", "role": "admin"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert api.delete(f"/api/v1/sso/mappings/{mapping.pk}/").status_code == 403
    assert SsoGroupMapping.objects.count() == 1


def test_the_api_needs_authentication() -> None:
    assert Client().get("/api/v1/sso/mappings/").status_code in (401, 403)
