"""Running the detectors and storing what they find (each occurrence once)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from portal.notifications.checks import DETECTORS
from portal.notifications.models import Notification
from portal.notifications.services.preferences import PreferenceBook
from portal.notifications.services.raising import raise_once
from portal.tasks import dispatch


def notifications_detect(
    *, now: datetime | None = None, dispatch_delivery: bool = True
) -> list[Notification]:
    """Run every detector and store the occurrences not stored before; return the new notifications.

    New notifications dispatch `notifications.deliver` after the commit, unless the caller
    delivers itself (`dispatch_delivery=False`: `manage.py notifications run`).
    """
    now = now or timezone.now()
    users = list(User.objects.filter(is_active=True).order_by("id"))
    book = PreferenceBook.load()
    created: list[Notification] = []
    for detector in DETECTORS:
        for occurrence in detector(now):
            notification = raise_once(occurrence, users=users, book=book, now=now)
            if notification is not None:
                created.append(notification)
    if created and dispatch_delivery:
        transaction.on_commit(lambda: dispatch("notifications.deliver"))
    return created
