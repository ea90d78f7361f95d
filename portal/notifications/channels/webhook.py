"""Signed webhook requests, sent only to public https addresses.

Signing: `Meridian-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
timestamp is inside the signed text, so a receiver that refuses timestamps older than
`REPLAY_WINDOW` refuses a replayed request too (`signature_verify` is the reference check).

SSRF: the host is resolved once, every address it resolves to must be public (not private,
loopback, link-local, multicast, reserved or unspecified), and the request then connects to that
checked address (TLS still verifies the certificate against the host name), so a DNS answer that
changes between the check and the connection cannot redirect the request. Whatever spells the
host (a name, decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1) is resolved as the
connection would resolve it, and the resulting address is checked. IPv6 addresses that lead to an
IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64, IPv4-compatible) are judged by that IPv4 address too;
site-local fec0::/10 is refused. Redirects are never followed: a 3xx is a failed attempt.
Loopback is allowed only with NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK (local and tests), and then
plain http too, for loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SIGNATURE_HEADER = "Meridian-Signature"
REPLAY_WINDOW = 300  # seconds a receiver should accept a timestamp for
USER_AGENT = "Meridian-Webhooks/1"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL is not https, or its host resolves to an address the portal must not call."""


class SignatureInvalid(ValueError):
    """A signature header is malformed, does not match, or its timestamp is outside the window."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class SendResult:
    status: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def secret_new() -> str:
    """Return a new endpoint secret."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_verify(
    secret: str, body: bytes, header: str, *, now: float | None = None, window: int = REPLAY_WINDOW
) -> None:
    """Check a received signature header; SignatureInvalid if it does not hold."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureInvalid("Malformed signature header.") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > window:
        raise SignatureInvalid("The timestamp is outside the replay window.")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureInvalid("The signature does not match.")


# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, RFC 8215) and
# the deprecated IPv4-compatible form. A gateway translates them to that IPv4 address.
_IPV4_IN_LOW_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Return the IPv4 addresses an IPv6 address leads to: IPv4-mapped, 6to4, Teredo, NAT64."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in _IPV4_IN_LOW_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _blocked(address: IPAddress, *, allow_loopback: bool) -> str:
    if address.is_loopback:
        return "" if allow_loopback else "a loopback address"
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            why = _blocked(inner, allow_loopback=allow_loopback)
            if why:
                return f"{why} inside an IPv6 address"
        if address.ipv4_mapped is not None:
            return ""  # the mapped IPv4 address is the one connected to, and it passed
        if address.is_site_local:  # fec0::/10, deprecated, private; Python 3.11 calls it global
            return "a site-local address"
    checks = (
        (address.is_link_local, "a link-local address"),
        (address.is_private, "a private address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_unspecified, "an unspecified address"),
        (not address.is_global, "a non-public address"),
    )
    return next((why for hit, why in checks if hit), "")


def target_check(url: str, *, allow_loopback: bool | None = None) -> Target:
    """Resolve `url`'s host and return the checked target; UnsafeWebhookUrl if it may not be called."""
    if allow_loopback is None:
        allow_loopback = settings.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeWebhookUrl("Webhook URLs must be https:// URLs with a host.")
    if parts.scheme == "http" and not allow_loopback:
        raise UnsafeWebhookUrl("Webhook URLs must use https://.")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("Webhook URLs may not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeWebhookUrl("The URL's port is not a number.") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeWebhookUrl(f"The host {parts.hostname} does not resolve.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeWebhookUrl(f"The host {parts.hostname} does not resolve.")
    for address in addresses:
        why = _blocked(address, allow_loopback=allow_loopback)
        if why:
            raise UnsafeWebhookUrl(f"The host {parts.hostname} resolves to {why} ({address}).")
    if parts.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise UnsafeWebhookUrl("Webhook URLs must use https:// (plain http only to this machine).")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address while TLS (SNI, certificate) uses the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def send(*, url: str, secret: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST `body` to `url`, signed with `secret`; never raises for a refused or failed request."""
    try:
        target = target_check(url)
    except UnsafeWebhookUrl as exc:
        return SendResult(None, f"Refused: {exc}")
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout)
    else:
        connection = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": _host_header(target),
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        **headers,
    }
    try:
        connection.request("POST", target.path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    return SendResult(status, "" if 200 <= status < 300 else f"HTTP {status}")
