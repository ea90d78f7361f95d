"""A real OpenID Connect provider (oidc-provider-mock) on 127.0.0.1, in a thread, for the tests.

oidc-provider-mock signs ID tokens (RS256, its own JWKS), keeps nonces and codes, and renders a
sign-in page; its users and their claims (groups included) are set over HTTP (`PUT /users/<sub>`).
It accepts PKCE parameters but does not check them, so `PkceCheck` wraps it as a WSGI middleware
that refuses a token request whose `code_verifier` does not match the authorization request's
S256 `code_challenge`: the test then proves Meridian really sends a matching verifier.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import werkzeug.serving

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass
class PkceCheck:
    """WSGI middleware: remember each code's challenge, refuse a token request that fails it."""

    app: Any
    challenges: dict[str, tuple[str, str]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    verified: int = 0

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            if environ["REQUEST_METHOD"] == "POST":
                self.authorize_requests.append(query)

            def remember(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
                for name, value in headers:
                    if name.lower() == "location":
                        code = parse_qs(urlsplit(value).query).get("code", [""])[0]
                        if code:
                            self.challenges[code] = (
                                query.get("code_challenge", ""),
                                query.get("code_challenge_method", ""),
                            )
                return start_response(status, headers, *args)

            return self.app(environ, remember)  # type: ignore[no-any-return]
        if path == "/oauth2/token" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            challenge, method = self.challenges.pop(form.get("code", ""), ("", ""))
            if form.get("grant_type") == "authorization_code":
                verifier = form.get("code_verifier", "")
                expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if method != "S256" or not verifier or expected.decode() != challenge:
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [b'{"error": "invalid_grant", "error_description": "PKCE verification failed"}']
                self.verified += 1
        return self.app(environ, start_response)  # type: ignore[no-any-return]


@dataclass
class Provider:
    """A running provider: its issuer URL, and helpers to set users and read what it saw."""

    issuer: str
    pkce: PkceCheck

    def set_user(self, sub: str, **claims: Any) -> None:
        """Create or replace the provider's user `sub` with these claims (e.g. groups=[...])."""
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def sign_in(self, authorize_url: str, sub: str) -> str:
        """Do what a person does on the provider's page: sign in as `sub`; return the redirect."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text[:500]
        return str(response.headers["Location"])


@contextmanager
def running_provider() -> Iterator[Provider]:
    """Run oidc-provider-mock on 127.0.0.1 on a free port for the duration of the block."""
    from oidc_provider_mock import app as provider_app

    pkce = PkceCheck(provider_app(require_nonce=True))
    server = werkzeug.serving.make_server("127.0.0.1", 0, pkce, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Provider(issuer=f"http://127.0.0.1:{server.server_port}", pkce=pkce)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
