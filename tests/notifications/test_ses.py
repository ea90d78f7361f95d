"""Production email: the production settings select Amazon SES through Anymail, and a notification
email leaves through it, against moto's SES (in-process with mock_aws, and with the production
settings themselves in a fresh process against moto's server on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from accounts.models import User
from markets.models import Market
from portal.notifications.services import notifications_deliver, notifications_detect, preferences_set
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.notifications.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
SENDER = "Meridian <notifications@meridian.example.com>"
SES_BACKEND = "anymail.backends.amazon_ses.EmailBackend"


def _sent(region: str = REGION) -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages)


@pytest.fixture
def ses(settings: Any) -> Iterator[None]:
    """moto's SES in this process, the sender verified, and the settings production uses."""
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity="meridian.example.com")
        settings.EMAIL_BACKEND = SES_BACKEND
        settings.ANYMAIL = {"AMAZON_SES_CLIENT_PARAMS": {"region_name": REGION}}
        settings.DEFAULT_FROM_EMAIL = SENDER
        settings.NOTIFICATIONS_SITE_URL = "https://meridian.example.com"
        yield


@pytest.mark.usefixtures("ses")
def test_a_notification_email_goes_out_through_ses_once(admin_user: User, au: Market) -> None:
    # Given the admin chose email for dead letters, and AU has one
    admin_user.email = "sam@example.com"
    admin_user.save(update_fields=["email"])
    preferences_set(user=admin_user, choices={("publish_dead_letters", "email"): True})
    OutboxEntry.objects.create(kind="market", key="AU", version=1, status=OutboxStatus.DEAD)
    notifications_detect(now=T0)
    # When the job delivers twice
    assert notifications_deliver().emails == 1
    assert notifications_deliver().emails == 0
    # Then SES accepted one message, from the verified sender to Sam, with the absolute link
    [message] = _sent()
    # (moto lists a recipient once from the API call and once from the message header)
    assert set(message.destinations) == {"sam@example.com"}
    parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
    assert parsed["From"] == SENDER and parsed["To"] == "sam@example.com"
    assert "could not be published" in parsed["Subject"]
    assert "https://meridian.example.com/markets/AU/" in parsed.get_body().get_content()


@pytest.mark.usefixtures("ses")
def test_an_ses_refusal_leaves_the_email_due_for_the_next_run(
    admin_user: User, au: Market, settings: Any
) -> None:
    # Given a sender SES has not verified
    settings.DEFAULT_FROM_EMAIL = "Meridian <meridian@unverified.example.org>"
    admin_user.email = "sam@example.com"
    admin_user.save(update_fields=["email"])
    preferences_set(user=admin_user, choices={("publish_dead_letters", "email"): True})
    OutboxEntry.objects.create(kind="market", key="AU", version=1, status=OutboxStatus.DEAD)
    notifications_detect(now=T0)
    # When the job delivers, then SES refuses it and the email stays due
    assert notifications_deliver().email_failures == 1
    assert _sent() == []
    # When the sender is fixed, the next run sends it
    settings.DEFAULT_FROM_EMAIL = SENDER
    assert notifications_deliver().emails == 1
    assert len(_sent()) == 1


SEND_WITH_PRODUCTION_SETTINGS = """
import django, boto3, sys
django.setup()
from django.conf import settings
from portal.notifications.channels.email import email_one
from portal.notifications.models import Notification
print(settings.EMAIL_BACKEND)
print(settings.ANYMAIL["AMAZON_SES_CLIENT_PARAMS"]["region_name"])
print(settings.ANYMAIL["AMAZON_SES_CONFIGURATION_SET_NAME"])
# Loading the settings did not import boto3 for email: only opening a connection does.
print("anymail.backends.amazon_ses" in sys.modules)
boto3.client("sesv2", region_name="eu-west-1").create_email_identity(EmailIdentity="meridian.example.com")
email_one(to="priya@example.com", notification=Notification(title="Labels wait for review", link="/labels/"))
print("anymail.backends.amazon_ses" in sys.modules)
"""


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_production_settings_send_through_ses(moto_server: str) -> None:
    dropped = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_BACKEND")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "SECRET_KEY": "x" * 60 + "not-a-real-secret-but-long-and-random-enough-ABCDEF0123456789",
            "DATABASE_URL": "sqlite:///tmp/meridian-ses-check.sqlite3",
            "ALLOWED_HOSTS": "meridian.example.com",
            "SHARED_TABLES_PREFIX": "meridian-prod-",
            "AWS_REGION": "eu-central-1",
            "SES_REGION": REGION,
            "SES_CONFIGURATION_SET": "meridian-notifications",
            "DEFAULT_FROM_EMAIL": SENDER,
            "NOTIFICATIONS_SITE_URL": "https://meridian.example.com",
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    # Given moto's SES knows the configuration set the production settings name
    boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=moto_server,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).create_configuration_set(ConfigurationSetName="meridian-notifications")
    # When the production settings load in a fresh process and send a notification email
    result = subprocess.run(
        [sys.executable, "-c", SEND_WITH_PRODUCTION_SETTINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then they chose Anymail's SES backend in the SES region, imported it only to send, and SES
    # (moto's server) accepted the message
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [SES_BACKEND, REGION, "meridian-notifications", "False", "True"]
    [message] = [m for m in _sent() if set(m.destinations) == {"priya@example.com"}]
    parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
    assert parsed["Subject"] == "[Meridian] Labels wait for review"
    assert "https://meridian.example.com/labels/" in parsed.get_body().get_content()
