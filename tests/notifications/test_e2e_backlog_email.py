"""Priya's journey in Debian's Chromium: she switches on email for the label backlog, the scheduled
job finds the backlog, the email lands in the local mailbox (Django's file backend), and its link,
opened in the browser where she is logged in, is the label review queue. Then the bell and the inbox
at 1366 and 390 px, for her and for the admin (screenshots in test-artifacts/screenshots/)."""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User
from content.labels.services import image_labels_store, images_upload
from portal.notifications.services import preferences_set
from tests.browser import log_in, new_page, shot
from tests.labels.conftest import make_image, result

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-tests"


@pytest.fixture
def mailbox(settings: Any, tmp_path: Path, live_server: Any) -> Path:
    """The local mailbox: the file backend writes every email under a temporary folder."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    settings.NOTIFICATIONS_SITE_URL = live_server.url
    settings.NOTIFICATIONS_LABEL_QUEUE_MAX = 0  # one waiting image is a backlog here
    return tmp_path / "mail"


@pytest.fixture
def priya(reviewer: User) -> User:
    reviewer.email = "priya@example.com"
    reviewer.set_password(PASSWORD)
    reviewer.save()
    return reviewer


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    yield from new_page(chromium)


def a_label_waits_for_review() -> None:
    image = images_upload(actor=None, files=[("glacier.png", make_image())], via="command").created[0]
    image_labels_store(image_id=image.pk, result=result([("Glacier", 70.0)]))


def emails_in(mailbox: Path) -> list[email.message.EmailMessage]:
    messages = []
    for path in sorted(mailbox.glob("*.log")):
        # The file backend writes each message followed by a line of dashes.
        for raw in path.read_text().split("-" * 79):
            if raw.strip():
                messages.append(email.message_from_string(raw.strip(), policy=email.policy.default))
    return messages  # type: ignore[return-value]


def test_priya_gets_the_backlog_email_and_its_link_opens_the_review_queue(
    page: Any, live_server: Any, priya: User, mailbox: Path
) -> None:
    # Given Priya switched email on for the label queue on her preferences page
    log_in(page, live_server.url, "reviewer", PASSWORD)
    page.goto(f"{live_server.url}/notifications/preferences/")
    page.get_by_label("Label review queue is long or old: Email").check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Your notification preferences are saved.").wait_for()
    # When a label waits for review and the scheduled job runs (twice: it is idempotent)
    a_label_waits_for_review()
    out = io.StringIO()
    call_command("notifications", "run", stdout=out)
    call_command("notifications", "run", stdout=out)
    # Then one email is in the local mailbox, to Priya, about the backlog
    [message] = emails_in(mailbox)
    assert message["To"] == "priya@example.com"
    assert message["Subject"] == "[Meridian] 1 image waits for label review (more than 0)"
    link = re.search(r"Resolve it here: (\S+)", message.get_content())
    assert link is not None and link.group(1) == f"{live_server.url}/labels/"
    # When she opens the link in the browser where she is logged in
    page.goto(link.group(1))
    # Then she is on the label review queue, with the waiting image in it
    page.get_by_role("heading", name="Label review queue").wait_for()
    assert page.url == f"{live_server.url}/labels/"
    page.get_by_text("1 image in the queue.").wait_for()
    assert page.locator("#queue-grid .thumb-card").count() == 1


def test_the_email_link_in_a_logged_out_browser_leads_through_the_login_to_the_queue(
    page: Any, live_server: Any, priya: User, mailbox: Path
) -> None:
    # Given the backlog email (Priya chose email for the label queue)
    preferences_set(user=priya, choices={("label_queue", "email"): True})
    a_label_waits_for_review()
    call_command("notifications", "run", stdout=io.StringIO())
    [message] = emails_in(mailbox)
    link = re.search(r"Resolve it here: (\S+)", message.get_content())
    assert link is not None
    # When she opens it in a browser where she is not logged in, and logs in
    page.goto(link.group(1))
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/labels/"))
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    # Then she lands on the review queue
    page.wait_for_url(f"{live_server.url}/labels/")
    page.get_by_role("heading", name="Label review queue").wait_for()


@pytest.mark.parametrize("width", [1366, 390])
def test_the_bell_and_the_inbox_at_desktop_and_phone_widths(
    chromium: Any, live_server: Any, priya: User, admin_user: User, mailbox: Path, width: int
) -> None:
    # Given a backlog both the admin and Priya are told about in the portal
    admin_user.set_password(PASSWORD)
    admin_user.save()
    a_label_waits_for_review()
    call_command("notifications", "run", stdout=io.StringIO())
    for user in ("admin", "reviewer"):
        pages = new_page(chromium, width=width, height=900)
        page = next(pages)
        log_in(page, live_server.url, user, PASSWORD)
        # Then the header's bell shows 1 unread, and the inbox lists the backlog, without
        # scrolling the page sideways
        page.locator("#notification-count").filter(has_text="1").wait_for()
        shot(page, f"notifications-bell-{user}-{width}")
        page.locator("#notification-bell").click()
        page.wait_for_url(f"{live_server.url}/notifications/")
        page.get_by_role("button", name="1 image waits for label review (more than 0)").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, f"notifications-inbox-{user}-{width}")
        pages.close()
