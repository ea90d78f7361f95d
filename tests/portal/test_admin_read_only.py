"""The Django admin cannot write a model that has a service (issue #12: no side doors).

A save in the Django admin skips the service's access check, audit entry and outbox row, so for
every registered ModelAdmin — read from `admin.site._registry`, so that a new registration is
covered without touching this test — adding, changing and deleting are refused, even to a
superuser, and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import ApiToken, User
from accounts.services import api_token_create
from content.models import ContentItem, GroupPosition, Position, Tag
from markets.models import GroupRule, Market, MarketGroup, Rule
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, MarketFactory, PositionFactory, RuleFactory, TagFactory

pytestmark = pytest.mark.django_db

# Registered models without a service, each with the reason it may stay writable.
WRITABLE = {
    # Users have no service (the portal has no user pages); their roles do, and the membership
    # inline is add-only through `membership_grant` (tested below).
    User: "no service; memberships go through membership_grant",
    Group: "Django's permission groups: no service, and no part of Meridian's roles",
}
# django-axes' own admin stays, for unlocking an address (docs/security.md).
THIRD_PARTY_APPS = {"axes"}


def guarded_admins() -> list[tuple[type[Model], admin.ModelAdmin[Any]]]:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model not in WRITABLE and model._meta.app_label not in THIRD_PARTY_APPS
    ]


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.fixture
def rows(superuser: User) -> dict[type[Model], Model]:
    """One row of every guarded model."""
    market = MarketFactory(code="AU")
    item = ContentItemFactory()
    api_token_create(actor=superuser, user=superuser, name="script")
    OutboxEntry.objects.create(kind="market", key="AU", version=1)
    group = MarketGroup.objects.create(code="APAC", name="Asia Pacific")
    seeded = {
        MarketGroup: group,
        GroupRule: GroupRule.objects.create(group=group, action="hide", match_sources=["gossip"]),
        GroupPosition: GroupPosition.objects.create(group=group, item=item, state="hidden"),
        Market: market,
        Rule: RuleFactory(market=market),
        ContentItem: item,
        Tag: TagFactory(slug="hunting"),
        Position: PositionFactory(market=market, item=item, state="promoted", boost=5),
        ApiToken: ApiToken.objects.get(),
        AuditEntry: AuditEntry.objects.first(),
        OutboxEntry: OutboxEntry.objects.first(),
    }
    missing = [m.__name__ for m, _ in guarded_admins() if m not in seeded]
    assert not missing, f"seed a row of {missing} here so its admin is checked"
    return seeded


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_every_guarded_admin_refuses_add_change_and_delete_to_a_superuser(superuser: User) -> None:
    request = RequestFactory().get("/django-admin/")
    request.user = superuser
    admins = guarded_admins()
    assert {Market, Rule, ContentItem, Tag, Position, ApiToken, AuditEntry, OutboxEntry} <= {
        m for m, _ in admins
    }
    for model, model_admin in admins:
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        assert not model_admin.get_actions(request), f"{model} has bulk actions (delete_selected)"
        assert model_admin.has_view_permission(request), model  # still a place to look


def test_admin_posts_change_nothing_for_any_guarded_model(
    superuser: User, rows: dict[type[Model], Model]
) -> None:
    client = Client()
    client.force_login(superuser)
    before = counts()
    for model, _model_admin in guarded_admins():
        obj = rows[model]
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        # When the superuser posts an add, a change and a delete
        added = client.post(reverse(f"{base}_add"), {})
        changed = client.post(reverse(f"{base}_change", args=[obj.pk]), {})
        deleted = client.post(reverse(f"{base}_delete", args=[obj.pk]), {"post": "yes"})
        # Then each is refused and the row is as it was
        assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403), model
        assert model.objects.filter(pk=obj.pk).exists(), model
    assert counts() == before


def test_a_position_boost_changed_in_the_admin_is_refused(
    superuser: User, rows: dict[type[Model], Model]
) -> None:
    # Given a promoted position (the reported case: a boost changed with no audit and no outbox)
    position = rows[Position]
    assert isinstance(position, Position)
    client = Client()
    client.force_login(superuser)
    audit, outbox = AuditEntry.objects.count(), OutboxEntry.objects.count()

    # When the Django admin's change form is posted with a complete, valid form
    response = client.post(
        reverse("admin:content_position_change", args=[position.pk]),
        {
            "market": position.market_id,
            "item": position.item_id,
            "state": "promoted",
            "boost": 99,
            "slot": "",
            "section": "",
            "starts_at_0": "",
            "starts_at_1": "",
            "ends_at_0": "",
            "ends_at_1": "",
            "reason": "side door",
            "author": "",
            "version": position.version,
        },
    )

    # Then it is refused and the boost is unchanged
    assert response.status_code == 403
    position.refresh_from_db()
    assert position.boost == 5
    assert (AuditEntry.objects.count(), OutboxEntry.objects.count()) == (audit, outbox)


def test_a_tag_created_in_the_admin_is_refused(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)
    response = client.post(reverse("admin:content_tag_add"), {"slug": "side-door", "label": "Side door"})
    assert response.status_code == 403
    assert not Tag.objects.filter(slug="side-door").exists()


def test_a_role_added_in_the_user_admin_goes_through_the_service_and_is_audited(superuser: User) -> None:
    # Given a user without roles, and an admin that may manage users
    from accounts.services import membership_grant

    membership_grant(actor=None, user=superuser, role="admin")
    user = User.objects.create_user("mia", password="pw-mia-12345")
    client = Client()
    client.force_login(superuser)
    change = reverse("admin:accounts_user_change", args=[user.pk])
    form = client.get(change).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields if name != "password"}
    data.update(
        {
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "groups": [],
            "user_permissions": [],
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-role": "reviewer",
            "memberships-0-market": "",
            "memberships-0-user": user.pk,
        }
    )
    for flag in ("is_active", "is_staff", "is_superuser"):
        if not data.get(flag):
            data.pop(flag, None)

    # When a role is added in the inline
    response = client.post(change, data)

    # Then it is granted through membership_grant, with its audit entry
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert user.memberships.filter(role="reviewer").exists()
    assert AuditEntry.objects.filter(action="membership.grant", object_id=str(user.pk)).exists()
