"""Notification email through Django's email framework (EMAIL_BACKEND picks console, file, SMTP, SES)."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from portal.notifications.models import Notification


def absolute(link: str) -> str:
    """Return the portal path `link` as an absolute URL when NOTIFICATIONS_SITE_URL is set."""
    return f"{settings.NOTIFICATIONS_SITE_URL}{link}" if link else ""


def email_one(*, to: str, notification: Notification) -> None:
    """Send one notification to one address (raises what the email backend raises)."""
    text = render_to_string(
        "notifications/email.txt", {"notification": notification, "url": absolute(notification.link)}
    )
    send_mail(f"[Meridian] {notification.title}", text, settings.DEFAULT_FROM_EMAIL, [to])


def email_digest(*, to: str, notifications: Sequence[Notification]) -> None:
    """Send one digest of `notifications` to one address (raises what the email backend raises)."""
    items = [(n, absolute(n.link)) for n in notifications]
    text = render_to_string("notifications/digest.txt", {"items": items})
    send_mail(
        f"[Meridian] Your daily digest: {len(items)} notification(s)", text, settings.DEFAULT_FROM_EMAIL, [to]
    )
