"""System checks for a deployment (`manage.py check --deploy`): settings that only work locally.

The defaults in `portal/settings/base.py` suit `make run`; these checks catch a deployed stage
that kept one of them, where it would fail quietly at the first email rather than at start-up.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

LOCAL_DOMAINS = ("localhost", "localhost.localdomain", "example.invalid")
LOCAL_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
)


@register("meridian", deploy=True)
def email_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when notification email would leave from a local address or link to nowhere."""
    if settings.EMAIL_BACKEND in LOCAL_BACKENDS:
        return []  # a stage without email sends none: nothing to check
    messages: list[CheckMessage] = []
    _, address = parseaddr(str(settings.DEFAULT_FROM_EMAIL))
    domain = address.rpartition("@")[2].lower()
    if not address or "@" not in address or domain in LOCAL_DOMAINS or "." not in domain:
        messages.append(
            Warning(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}: SES refuses to send from an "
                "address it has not verified, so every notification email would fail.",
                hint="Set DEFAULT_FROM_EMAIL to an SES-verified identity, e.g. "
                "'Meridian <notifications@meridian.example.com>' (docs/notifications.md).",
                id="meridian.W001",
            )
        )
    site = urlsplit(str(settings.NOTIFICATIONS_SITE_URL))
    if site.scheme != "https" or not site.netloc:
        messages.append(
            Warning(
                f"NOTIFICATIONS_SITE_URL is {settings.NOTIFICATIONS_SITE_URL!r}: links in notification "
                "emails would not open the portal.",
                hint="Set NOTIFICATIONS_SITE_URL to the portal's https:// address, e.g. "
                "'https://meridian.example.com'.",
                id="meridian.W002",
            )
        )
    return messages
