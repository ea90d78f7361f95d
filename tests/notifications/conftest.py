"""Fixtures for the notifications suites: partners on the local gateway, a webhook receiver on
127.0.0.1 that checks signatures, and users in and outside markets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from accounts.models import Membership, User
from accounts.roles import Role
from markets.models import Market
from portal.notifications.channels.webhook import SIGNATURE_HEADER, SignatureInvalid, signature_verify
from tests.factories import UserFactory
from tests.partners.conftest import (  # noqa: F401  (fixtures)
    T0,
    issue,
    local_partner_setup,
    make_plan,
    partner,
    plan,
)


@pytest.fixture
def de_manager(de: Market) -> User:
    user = UserFactory(username="de-manager", email="lukas@example.com")
    Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=de)
    return user


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> None:
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK = True
    settings.NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = 3
    settings.NOTIFICATIONS_WEBHOOK_TIMEOUT = 5


@dataclass
class Receiver:
    """A webhook receiver: answers the queued statuses (then 200) and records what it got."""

    url: str
    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    # Extra response headers (a Location for a redirect)
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                signature_verify(state.secret, body, self.headers.get(SIGNATURE_HEADER, ""))
                valid = True
            except SignatureInvalid:
                valid = False
            status = state.statuses.pop(0) if state.statuses else 200
            state.received.append(
                {"body": body, "headers": dict(self.headers), "valid": valid, "answered": status}
            )
            self.send_response(status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/meridian"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
