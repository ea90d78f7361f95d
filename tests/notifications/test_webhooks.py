"""Webhooks: signed deliveries to a receiver this test starts on 127.0.0.1, retries with backoff,
dead letters and the retry button, the test event, and SSRF refusals."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest

from accounts.access import AccessDenied
from accounts.models import User
from markets.models import Market
from portal.notifications.channels import webhook as channel
from portal.notifications.channels.webhook import SignatureInvalid, UnsafeWebhookUrl, sign, signature_verify
from portal.notifications.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from portal.notifications.services import (
    WebhookRefused,
    notifications_deliver,
    notifications_detect,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_send_test,
)
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.notifications.conftest import T0, Receiver


@pytest.fixture
def endpoint(admin_user: User, receiver: Receiver) -> WebhookEndpoint:
    hook, secret = webhook_endpoint_create(
        actor=admin_user, name="Ops", url=receiver.url, kinds=["publish_dead_letters"]
    )
    receiver.secret = secret
    return hook


def dead_letter(market_code: str) -> None:
    OutboxEntry.objects.create(kind="market", key=market_code, version=1, status=OutboxStatus.DEAD)


def test_an_event_is_delivered_signed_and_retried_after_500s(
    endpoint: WebhookEndpoint, receiver: Receiver, au: Market
) -> None:
    # Given a receiver that answers 500 twice, then 200, and a dead letter in AU
    receiver.statuses = [500, 500]
    dead_letter("AU")
    # When the job detects it and delivers three times (backoff 0 in the tests)
    [notification] = notifications_detect(now=T0)
    reports = [notifications_deliver() for _ in range(3)]
    # Then the receiver got three correctly signed requests of one event, the last one answered 200
    assert [r["answered"] for r in receiver.received] == [500, 500, 200]
    assert all(r["valid"] for r in receiver.received)
    bodies = [json.loads(r["body"]) for r in receiver.received]
    assert {b["id"] for b in bodies} == {str(WebhookDelivery.objects.get().event_id)}
    assert bodies[0]["event"] == "publish_dead_letters" and bodies[0]["market"] == "AU"
    assert bodies[0]["occurrence"] == notification.occurrence_key
    assert receiver.received[0]["headers"]["Meridian-Event"] == "publish_dead_letters"
    assert [r.webhooks_delivered for r in reports] == [0, 0, 1]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert [entry["status"] for entry in delivery.log] == [500, 500, 200]
    # And running again sends nothing more
    notifications_deliver()
    assert len(receiver.received) == 3


def test_a_delivery_becomes_a_dead_letter_after_the_limit_and_the_retry_button_sends_it_again(
    endpoint: WebhookEndpoint, receiver: Receiver, au: Market, admin_user: User, editor: User
) -> None:
    # Given a receiver that fails every time (3 attempts allowed in these tests)
    receiver.statuses = [500] * 5
    dead_letter("AU")
    notifications_detect(now=T0)
    # When the job runs four times
    for _ in range(4):
        notifications_deliver()
    # Then three attempts were made and the delivery is a dead letter
    delivery = WebhookDelivery.objects.get()
    assert [r["answered"] for r in receiver.received] == [500, 500, 500]
    assert all(r["valid"] for r in receiver.received)  # each attempt signed afresh, verified
    assert delivery.status == DeliveryStatus.DEAD and delivery.last_status_code == 500
    assert delivery.attempts == 3 and delivery.next_attempt_at is None
    # When an editor presses retry, then they are refused
    with pytest.raises(AccessDenied):
        webhook_delivery_retry(actor=editor, delivery=delivery)
    # When the admin presses retry and the receiver answers again
    receiver.statuses = []
    assert webhook_delivery_retry(actor=admin_user, delivery=delivery) is True
    notifications_deliver()
    # Then it is delivered, and a second retry of a delivered one does nothing
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert webhook_delivery_retry(actor=admin_user, delivery=delivery) is False


def test_endpoints_get_only_their_events_and_markets(
    admin_user: User, receiver: Receiver, au: Market, de: Market
) -> None:
    # Given an endpoint for DE's dead letters only
    hook, receiver.secret = webhook_endpoint_create(
        actor=admin_user, name="DE ops", url=receiver.url, kinds=["publish_dead_letters"], markets=[de]
    )
    # When AU and DE both have dead letters
    dead_letter("AU")
    dead_letter("DE")
    notifications_detect(now=T0)
    notifications_deliver()
    # Then the endpoint got DE's only
    assert [json.loads(r["body"])["market"] for r in receiver.received] == ["DE"]


def test_the_test_event_button_sends_a_signed_test_event(
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    admin_user: User,
    reviewer: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with pytest.raises(AccessDenied):
        webhook_send_test(actor=reviewer, endpoint=endpoint)
    # When the admin sends a test event (delivered in the background after the commit)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_send_test(actor=admin_user, endpoint=endpoint)
    # Then the receiver got it, signed
    [got] = receiver.received
    assert got["valid"] and json.loads(got["body"])["event"] == "test"


def test_signatures_refuse_tampering_other_secrets_and_replays() -> None:
    body = b'{"event":"test"}'
    header = sign("whsec_a", body, 1_000_000)
    signature_verify("whsec_a", body, header, now=1_000_100)
    with pytest.raises(SignatureInvalid):
        signature_verify("whsec_a", body + b" ", header, now=1_000_100)
    with pytest.raises(SignatureInvalid):
        signature_verify("whsec_b", body, header, now=1_000_100)
    with pytest.raises(SignatureInvalid):  # replayed after the 5-minute window
        signature_verify("whsec_a", body, header, now=1_000_000 + 301)
    with pytest.raises(SignatureInvalid):
        signature_verify("whsec_a", body, "v1=abc", now=1_000_000)


# --- SSRF ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://192.168.1.10/",
        "https://172.16.0.1/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://127.0.0.1/",
        "https://localhost/",
        "https://[::1]/",
        "http://93.184.216.34/",  # public, but not https
        "ftp://93.184.216.34/",
        "https://user:pw@93.184.216.34/",
        # IPv4 spelt otherwise: decimal, octal, hex, short forms (resolved as a connection would)
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0x7f.1/",
        "https://127.1/",
        "https://167772161/",  # 10.0.0.1
        "https://012.0.0.1/",  # 10.0.0.1
        "https://0/",
        # IPv6: loopback, unspecified, unique local, site-local, multicast, documentation
        "https://[::]/",
        "https://[fc00::1]/",
        "https://[fd12:3456::1]/",
        "https://[fec0::1]/",
        "https://[ff02::1]/",
        "https://[2001:db8::1]/",
        "https://[fe80::1%25eth0]/",
        # IPv6 carrying a private IPv4: mapped (both spellings), compatible, 6to4, NAT64, Teredo
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://[::10.0.0.1]/",
        "https://[2002:a00:1::1]/",
        "https://[2002:c0a8:101::1]/",
        "https://[64:ff9b::10.0.0.1]/",
        "https://[64:ff9b:1::a9fe:a9fe]/",
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    ],
)
def test_unsafe_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        channel.target_check(url, allow_loopback=False)


def test_http_to_a_public_address_is_refused_even_when_loopback_is_allowed() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        channel.target_check("http://93.184.216.34/", allow_loopback=True)
    assert channel.target_check("http://127.0.0.1:8080/x?y=1", allow_loopback=True).path == "/x?y=1"
    assert channel.target_check("https://93.184.216.34/", allow_loopback=False).address == "93.184.216.34"


def test_every_address_a_host_resolves_to_is_checked() -> None:
    # Given a name that resolves to a public and a private address
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443)),
    ]
    with (
        mock.patch.object(channel.socket, "getaddrinfo", return_value=answers),
        pytest.raises(UnsafeWebhookUrl, match="private"),
    ):
        channel.target_check("https://hooks.example.com/", allow_loopback=False)


@pytest.mark.parametrize(
    "answers",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["::ffff:10.1.2.3"],
        ["fd00::5"],
        ["2002:a9fe:a9fe::1"],
        ["93.184.216.34", "127.0.0.1"],
    ],
)
def test_a_dns_name_resolving_to_a_private_address_is_refused(answers: list[str]) -> None:
    # Given a public-looking name whose DNS answers (A and AAAA) include a private address
    infos = [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443))
        for a in answers
    ]
    with (
        mock.patch.object(channel.socket, "getaddrinfo", return_value=infos),
        pytest.raises(UnsafeWebhookUrl, match="resolves to"),
    ):
        channel.target_check("https://hooks.example.com/", allow_loopback=False)


def test_a_redirect_is_not_followed_even_to_an_allowed_address(
    endpoint: WebhookEndpoint, receiver: Receiver, au: Market
) -> None:
    # Given the endpoint answers 302 to another receiver (here on loopback, allowed in tests: a
    # redirect to a private address is not followed either, since no redirect is)
    other: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            other.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.statuses = [302]
    receiver.headers = {"Location": f"http://127.0.0.1:{server.server_address[1]}/internal"}
    dead_letter("AU")
    notifications_detect(now=T0)
    # When the job delivers
    report = notifications_deliver()
    server.shutdown()
    server.server_close()
    # Then the 302 is a failed attempt, retried later, and the redirect target got nothing
    assert other == [] and report.webhooks_failed == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code == 302 and delivery.status == DeliveryStatus.PENDING


def test_personal_opt_in_kinds_are_not_offered_to_webhooks(admin_user: User, receiver: Receiver) -> None:
    with pytest.raises(WebhookRefused, match="my_window"):
        webhook_endpoint_create(actor=admin_user, name="x", url=receiver.url, kinds=["my_window"])
    assert not WebhookEndpoint.objects.exists()


def test_registering_an_unsafe_url_is_refused(admin_user: User, settings: Any) -> None:
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK = False
    for url in (
        "https://10.0.0.1/",
        "https://169.254.169.254/",
        "https://localhost/",
        "http://93.184.216.34/",
    ):
        with pytest.raises(WebhookRefused):
            webhook_endpoint_create(actor=admin_user, name="x", url=url, kinds=["outbox_backlog"])
    assert not WebhookEndpoint.objects.exists()


def test_delivery_checks_the_target_again_and_refuses_it(
    endpoint: WebhookEndpoint, receiver: Receiver, au: Market, settings: Any
) -> None:
    # Given an endpoint registered while loopback was allowed, which is no longer allowed
    dead_letter("AU")
    notifications_detect(now=T0)
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK = False
    # When the job delivers, then nothing reaches the receiver and the log says why
    notifications_deliver()
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("Refused:") and delivery.attempts == 1


def test_a_timeout_is_a_failed_attempt(endpoint: WebhookEndpoint, au: Market, settings: Any) -> None:
    # Given a listener that accepts connections but never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    endpoint.url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    endpoint.save()
    settings.NOTIFICATIONS_WEBHOOK_TIMEOUT = 0.5
    dead_letter("AU")
    notifications_detect(now=T0)
    # When the job delivers, then the attempt fails with a timeout and is scheduled again
    report = notifications_deliver()
    silent.close()
    delivery = WebhookDelivery.objects.get()
    assert report.webhooks_failed == 1 and "timed out" in delivery.last_error
    assert delivery.status == DeliveryStatus.PENDING


def test_retries_back_off_exponentially(
    endpoint: WebhookEndpoint, receiver: Receiver, au: Market, settings: Any
) -> None:
    # Given a receiver that keeps answering 500, a 30 s base and 5 attempts
    settings.NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = 5
    receiver.statuses = [500] * 5
    dead_letter("AU")
    notifications_detect(now=T0)
    waits = []
    now = T0
    # When each attempt runs as soon as it is due
    for _ in range(4):
        notifications_deliver(now=now)
        delivery = WebhookDelivery.objects.get()
        assert delivery.next_attempt_at is not None
        waits.append((delivery.next_attempt_at - now).total_seconds())
        assert notifications_deliver(now=now + timedelta(seconds=1)).webhooks_failed == 0  # not due yet
        now = delivery.next_attempt_at
    # Then each wait is the doubled delay with "equal" jitter: between half and all of 30, 60, 120, 240
    for wait, delay in zip(waits, (30, 60, 120, 240), strict=True):
        assert delay / 2 <= wait <= delay
    notifications_deliver(now=now)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DEAD
