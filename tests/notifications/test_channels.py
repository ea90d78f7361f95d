"""Channels per user: preferences (own choice, role default, built-in), email through Django's email
framework, the daily digest, and `manage.py notifications` being idempotent."""

from __future__ import annotations

import io
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.access import AccessDenied
from accounts.models import User
from markets.models import Market
from portal import scheduled
from portal.notifications.models import Receipt
from portal.notifications.selectors import preferences_for
from portal.notifications.services import (
    notifications_deliver,
    notifications_detect,
    notifications_digest,
    preferences_set,
    role_defaults_set,
)
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.notifications.conftest import T0


@pytest.fixture
def emails(admin_user: User, au_manager: User) -> None:
    for user in (admin_user, au_manager):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


def dead_letter(code: str = "AU") -> None:
    OutboxEntry.objects.create(kind="market", key=code, version=1, status=OutboxStatus.DEAD)


@pytest.mark.usefixtures("emails")
def test_by_default_only_the_inbox(admin_user: User, au: Market) -> None:
    dead_letter()
    notifications_detect(now=T0)
    receipt = Receipt.objects.get(user=admin_user)
    assert (receipt.in_inbox, receipt.email_due, receipt.digest_due) == (True, False, False)
    notifications_deliver()
    assert mail.outbox == []


@pytest.mark.usefixtures("emails")
def test_email_is_sent_once_to_those_who_chose_it(admin_user: User, au_manager: User, au: Market) -> None:
    # Given the admin chose email for dead letters (and no inbox); the AU manager did not
    preferences_set(
        user=admin_user,
        choices={("publish_dead_letters", "email"): True, ("publish_dead_letters", "inbox"): False},
    )
    dead_letter()
    notifications_detect(now=T0)
    # When the job delivers twice
    notifications_deliver()
    notifications_deliver()
    # Then one email, to the admin, with the link that resolves it
    [sent] = mail.outbox
    assert sent.to == ["admin@example.com"]
    assert "could not be published" in sent.subject and "/markets/AU/" in sent.body
    assert not Receipt.objects.get(user=admin_user).in_inbox


@pytest.mark.usefixtures("emails")
def test_role_defaults_apply_until_a_user_chooses(admin_user: User, au_manager: User, au: Market) -> None:
    # Given an admin sets market managers' default to email for dead letters
    role_defaults_set(
        actor=admin_user, role="market_manager", choices={("publish_dead_letters", "email"): True}
    )
    row = next(r for r in preferences_for(user=au_manager) if r.kind == "publish_dead_letters")
    assert row.channels == {"inbox": True, "email": True, "digest": False}
    dead_letter()
    notifications_detect(now=T0)
    assert Receipt.objects.get(user=au_manager).email_due
    # When the manager switches email off for themselves, then their own choice wins
    preferences_set(user=au_manager, choices={("publish_dead_letters", "email"): False})
    dead_letter()
    [second] = notifications_detect(now=T0)
    assert not Receipt.objects.get(user=au_manager, notification=second).email_due


def test_only_admins_set_role_defaults(au_manager: User) -> None:
    with pytest.raises(AccessDenied):
        role_defaults_set(actor=au_manager, role="editor", choices={("outbox_backlog", "email"): True})


@pytest.mark.usefixtures("emails")
def test_the_digest_sends_one_email_per_user_once(admin_user: User, au: Market, de: Market) -> None:
    preferences_set(user=admin_user, choices={("publish_dead_letters", "digest"): True})
    dead_letter("AU")
    dead_letter("DE")
    notifications_detect(now=T0)
    assert notifications_digest() == 1
    assert notifications_digest() == 0
    [digest] = mail.outbox
    assert "2 notification(s)" in digest.subject and "in AU" in digest.body and "in DE" in digest.body


@pytest.mark.usefixtures("emails")
def test_the_command_and_the_scheduled_job_are_idempotent(
    admin_user: User, au: Market, settings: Any
) -> None:
    preferences_set(user=admin_user, choices={("publish_dead_letters", "email"): True})
    dead_letter()
    out = io.StringIO()
    call_command("notifications", "run", stdout=out)
    call_command("notifications", "run", stdout=out)
    assert "1 new notification(s)." in out.getvalue() and "0 new notification(s)." in out.getvalue()
    assert len(mail.outbox) == 1
    assert "0 new notification(s)" in scheduled.notifications_run({}, None)
    assert "0 digest(s) sent." in scheduled.notifications_digest({}, None)


@pytest.mark.usefixtures("emails")
def test_a_failed_email_is_released_and_sent_by_the_next_run(admin_user: User, au: Market) -> None:
    preferences_set(user=admin_user, choices={("publish_dead_letters", "email"): True})
    dead_letter()
    notifications_detect(now=T0)
    # Given the email backend fails once
    with mock.patch("django.core.mail.message.EmailMessage.send", side_effect=OSError("SMTP down")):
        report = notifications_deliver()
    assert report.email_failures == 1 and mail.outbox == []
    assert Receipt.objects.get(user=admin_user).emailed_at is None
    # When the next run comes, then the email goes out once
    assert notifications_deliver().emails == 1
    assert len(mail.outbox) == 1
