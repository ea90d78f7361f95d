"""The event-kind registry (portal/notifications/kinds.py): adding a kind is one member and one
entry there, with no migration, and an event raised from a service (`notifications_raise`) is
stored once and reaches only the users it is addressed to who may see it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from markets.models import Market
from portal.notifications.kinds import KINDS, EventKind
from portal.notifications.models import Notification, Preference, Receipt
from portal.notifications.occurrence import Occurrence
from portal.notifications.services import notification_emit, notifications_raise


def test_every_kind_has_a_registry_entry_and_needs_no_migration() -> None:
    assert set(KINDS) == set(EventKind.values)
    # Kinds are stored as plain text: a new member changes no model field (no migration).
    assert Notification._meta.get_field("kind").choices is None
    assert Preference._meta.get_field("kind").choices is None


def test_an_addressed_event_reaches_its_recipients_who_may_see_its_market_once(
    au: Market, editor: User, au_manager: User, de_manager: User, admin_user: User, nobody: User
) -> None:
    # Given an event in AU addressed to the AU manager, the DE manager and a user with no role
    # (as a "change request submitted for my review" is), on a market-scoped kind
    occurrence = Occurrence(
        kind=EventKind.DEAD_LETTERS,
        key="example:1",
        title="An addressed event",
        link=reverse("markets:detail", args=["AU"]),
        market_id=au.pk,
        recipients=(au_manager.pk, de_manager.pk, nobody.pk),
    )
    # When the service raises it twice
    first = notifications_raise(occurrence)
    assert notifications_raise(occurrence) is None
    # Then only the AU manager got it: not the others it named (outside AU), not the admin and
    # the editor (who may see AU, but it was not addressed to them)
    assert first is not None
    assert list(Receipt.objects.values_list("user__username", flat=True)) == ["au-manager"]


@pytest.mark.django_db
def test_an_addressed_event_nobody_receives_is_not_stored(de_manager: User, au: Market) -> None:
    occurrence = Occurrence(
        kind=EventKind.DEAD_LETTERS, key="example:2", title="x", market_id=au.pk, recipients=(de_manager.pk,)
    )
    assert notifications_raise(occurrence) is None
    assert not Notification.objects.exists()


def test_notification_emit_addresses_the_users_given(au: Market, au_manager: User, de_manager: User) -> None:
    occurrence = Occurrence(kind=EventKind.DEAD_LETTERS, key="example:3", title="x", market_id=au.pk)
    assert notification_emit(occurrence, users=[au_manager, de_manager]) is not None
    assert list(Receipt.objects.values_list("user__username", flat=True)) == ["au-manager"]
