"""portal/notifications/checks.py through notifications_detect: every event fires once for its
occurrence (the check runs twice), carries its market or partner, links to the page that resolves
it, and reaches only the users who may see it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.partners.models import KeyUsage, SyncState
from accounts.partners.services import IssuedKey
from content.labels.models import ImageLabel, ImageStatus, LabelJob, LabelJobState
from content.labels.services import image_labels_store, images_upload
from markets.models import Market
from portal.notifications.models import EventKind, Notification, Preference, Receipt
from portal.notifications.services import notifications_detect, preferences_set, role_defaults_set
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.factories import PositionFactory, RuleFactory
from tests.labels.conftest import make_image, result
from tests.notifications.conftest import T0


def detect_twice(now: Any = T0) -> list[Notification]:
    first = notifications_detect(now=now)
    second = notifications_detect(now=now)
    assert second == [], "a second run raised the same occurrences again"
    return first


def recipients(notification: Notification) -> set[str]:
    return set(Receipt.objects.filter(notification=notification).values_list("user__username", flat=True))


@pytest.fixture
def everyone(
    admin_user: User, editor: User, au_manager: User, de_manager: User, reviewer: User, nobody: User
) -> None:
    """Users of every role, so each test can say who (of all of them) received an event."""


def use(key: Any, percent: int) -> None:
    KeyUsage.objects.update_or_create(
        key=key, day=T0.date(), defaults={"used": 100, "remaining": 20_000 - 200 * percent}
    )


@pytest.mark.usefixtures("everyone")
def test_quota_fires_once_per_threshold_per_period(issue: Callable[..., IssuedKey]) -> None:
    # Given a key on a 20,000-a-month plan at 55 % of its quota
    key = issue().key
    use(key, 55)
    # When the check runs twice
    [fired] = detect_twice()
    # Then one 50 % event, for the partner, linking to the key, to admins only
    assert fired.kind == EventKind.QUOTA
    assert fired.occurrence_key == f"quota:{key.pk}:2026-03-01:50"
    assert fired.partner_id == key.partner_id and fired.market_id is None
    assert fired.link == reverse("partners:key-detail", args=[key.pk])
    assert recipients(fired) == {"admin"}
    # When use passes 80 %, then one more (80 %) event, and running again adds nothing
    use(key, 85)
    [passed_80] = detect_twice()
    assert passed_80.data["threshold"] == 80
    # And in the next month the same threshold is a new occurrence
    use(key, 0)
    next_month = T0 + timedelta(days=31)
    KeyUsage.objects.create(key=key, day=next_month.date(), used=100, remaining=20_000 - 200 * 60)
    [again] = detect_twice(next_month)
    assert again.occurrence_key == f"quota:{key.pk}:2026-04-01:50"


@pytest.mark.usefixtures("everyone")
def test_expiring_and_expired_keys_fire_once_each(issue: Callable[..., IssuedKey]) -> None:
    # Given a key that expires in 3 days
    key = issue().key
    type(key).objects.filter(pk=key.pk).update(expires_at=T0 + timedelta(days=3))
    key.refresh_from_db()
    # When the check runs twice, then one "expires within 7 days" event, to admins
    [expiring] = detect_twice()
    assert expiring.kind == EventKind.KEY_EXPIRING and recipients(expiring) == {"admin"}
    # When its expiry passes, then one "expired" event
    [expired] = detect_twice(T0 + timedelta(days=4))
    assert expired.kind == EventKind.KEY_EXPIRED
    assert expired.occurrence_key == f"key_expired:{key.pk}:{key.expires_at:%Y-%m-%dT%H:%M}"


@pytest.mark.usefixtures("everyone")
def test_a_failed_gateway_sync_fires_once_until_it_recovers_and_fails_again(
    issue: Callable[..., IssuedKey],
) -> None:
    # Given a key whose sync failed
    key = issue().key
    type(key).objects.filter(pk=key.pk).update(sync_state=SyncState.FAILED, sync_error="TooManyRequests")
    [fired] = detect_twice()
    assert fired.kind == EventKind.GATEWAY_SYNC and fired.body == "TooManyRequests"
    assert recipients(fired) == {"admin"}
    # When it synced again later and then failed again, that is a new occurrence
    type(key).objects.filter(pk=key.pk).update(synced_at=T0, sync_state=SyncState.FAILED)
    assert len(detect_twice()) == 1


@pytest.mark.usefixtures("everyone")
def test_dead_letters_fire_per_market_to_that_markets_people_only(au: Market, de: Market) -> None:
    # Given a dead letter for AU's positions
    OutboxEntry.objects.create(kind="position", key="AU|ng-1", version=1, status=OutboxStatus.DEAD)
    # When the check runs twice
    [fired] = detect_twice()
    # Then one event for AU, linking to AU's page, for AU's people: never DE's manager or a reviewer
    assert fired.market == au
    assert fired.link == reverse("markets:detail", args=["AU"])
    assert recipients(fired) == {"admin", "editor", "au-manager"}
    # And a new dead letter in AU is a new occurrence; one in DE goes to DE's people
    OutboxEntry.objects.create(kind="market", key="AU", version=2, status=OutboxStatus.DEAD)
    OutboxEntry.objects.create(kind="market", key="DE", version=2, status=OutboxStatus.DEAD)
    fired = detect_twice()
    by_market = {n.market.code: recipients(n) for n in fired if n.market}
    assert by_market == {"AU": {"admin", "editor", "au-manager"}, "DE": {"admin", "editor", "de-manager"}}


@pytest.mark.usefixtures("everyone")
def test_an_old_outbox_backlog_fires_once_for_its_oldest_row(settings: Any) -> None:
    # Given a row waiting to be published for 20 minutes (the limit is 15)
    settings.NOTIFICATIONS_OUTBOX_BACKLOG_MINUTES = 15
    entry = OutboxEntry.objects.create(kind="market", key="AU", version=1)
    OutboxEntry.objects.filter(pk=entry.pk).update(created_at=T0 - timedelta(minutes=20))
    # When the check runs twice, then one event, to admins, linking to the publishing page
    [fired] = detect_twice()
    assert fired.kind == EventKind.OUTBOX_BACKLOG and fired.link == reverse("publishing:outbox")
    assert recipients(fired) == {"admin"}
    # And a row only 10 minutes old fires nothing
    OutboxEntry.objects.filter(pk=entry.pk).update(status=OutboxStatus.PUBLISHED)
    fresh = OutboxEntry.objects.create(kind="market", key="DE", version=1)
    OutboxEntry.objects.filter(pk=fresh.pk).update(created_at=T0 - timedelta(minutes=10))
    assert detect_twice() == []


@pytest.mark.usefixtures("everyone")
def test_the_label_queue_fires_when_long_or_old_and_failed_jobs_fire_once(settings: Any) -> None:
    # Given an image with a pending label, a queue limit of 0 images and 24 hours
    settings.NOTIFICATIONS_LABEL_QUEUE_MAX = 0
    image = images_upload(actor=None, files=[("a.png", make_image())], via="command").created[0]
    image_labels_store(image_id=image.pk, result=result([("Glacier", 70.0)]))
    ImageLabel.objects.filter(image=image).update(created_at=T0 - timedelta(hours=1))
    # When the check runs twice (now, then 25 hours later)
    [size] = detect_twice(T0)
    assert size.kind == EventKind.LABEL_QUEUE and size.occurrence_key == f"label_queue:size:{T0:%Y-%m-%d}"
    later = [n.occurrence_key for n in detect_twice(T0 + timedelta(hours=25))]
    # Then a size event per day and one age event for the oldest label, to reviewers and admins
    assert sorted(k.split(":")[1] for k in later) == ["age", "size"]
    assert recipients(size) == {"admin", "reviewer"}
    # Given a labelling job that gave up, then one event for it
    image.status = ImageStatus.FAILED
    image.save(update_fields=["status"])
    LabelJob.objects.create(image=image, state=LabelJobState.DEAD, last_error="ThrottlingException")
    settings.NOTIFICATIONS_LABEL_QUEUE_MAX = 1000
    [failed] = detect_twice(T0 + timedelta(hours=25))
    assert failed.kind == EventKind.LABEL_JOBS and failed.link == reverse("labels:jobs")
    assert recipients(failed) == {"admin", "reviewer"}


@pytest.mark.usefixtures("everyone")
def test_a_window_i_set_reminds_me_once_and_only_when_i_opted_in(
    au: Market, de: Market, admin_user: User, editor: User, au_manager: User, de_manager: User
) -> None:
    # Given the editor set three AU promotions ending at 17:xx and a DE pin starting at 17:30; the
    # AU manager an AU rule starting at 17:10; the DE manager an AU position ending at 17:20 (set
    # while they still managed AU); and windows that start or end in 30 hours, or have no author
    ends = T0 + timedelta(hours=5)
    for n in range(3):
        PositionFactory(
            market=au, state="promoted", boost=3, ends_at=ends + timedelta(minutes=n * 10), author=editor
        )
    PositionFactory(market=de, state="pinned", slot=1, starts_at=ends + timedelta(minutes=30), author=editor)
    RuleFactory(market=au, action="hide", starts_at=ends + timedelta(minutes=10), author=au_manager)
    PositionFactory(
        market=au, state="promoted", boost=3, ends_at=ends + timedelta(minutes=20), author=de_manager
    )
    PositionFactory(market=au, state="promoted", boost=3, ends_at=T0 + timedelta(hours=30), author=editor)
    PositionFactory(market=au, state="default", ends_at=ends, author=editor)
    PositionFactory(market=au, state="promoted", boost=3, ends_at=ends)
    # When the check runs while nobody opted in (not even an admin's role default can switch it on)
    role_defaults_set(actor=admin_user, role="editor", choices={("my_window", "inbox"): True})
    assert not Preference.objects.filter(kind="my_window").exists()
    # Then nothing is raised or stored
    assert detect_twice() == []
    # When they opt in (in the portal, or by email) and the check runs twice
    for user in (editor, au_manager, de_manager):
        preferences_set(user=user, choices={("my_window", "inbox"): True})
    fired = detect_twice()
    # Then each author is reminded once per market, start or end, and hour, of their own windows
    # only, and the DE manager (no longer in AU) is not told about AU
    assert {n.occurrence_key: (n.title, recipients(n)) for n in fired} == {
        f"my_window:{editor.pk}:AU:ends:2026-03-10T17": (
            "3 positions you set in AU end between 2026-03-10 17:00 and 17:59 UTC",
            {"editor"},
        ),
        f"my_window:{editor.pk}:DE:starts:2026-03-10T17": (
            "1 position you set in DE starts between 2026-03-10 17:00 and 17:59 UTC",
            {"editor"},
        ),
        f"my_window:{au_manager.pk}:AU:starts:2026-03-10T17": (
            "1 rule you set in AU starts between 2026-03-10 17:00 and 17:59 UTC",
            {"au-manager"},
        ),
    }
    assert all(n.link == reverse("markets:detail", args=[n.market.code]) for n in fired)
    # And the same windows an hour later are the same occurrences: nothing again
    assert detect_twice(T0 + timedelta(hours=1)) == []
