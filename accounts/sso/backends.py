"""The single sign-on authentication backend (mozilla-django-oidc); passwords: passwords.py.

`SsoBackend` keys users on the ID token's issuer + `sub` (never the email alone), checks the
issuer and audience that mozilla-django-oidc leaves unchecked, and hands the verified claims to
`sso_login_sync`, which creates the user and maps groups to memberships.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.sso import discovery
from accounts.sso.services import sso_login_sync

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.sso")


class SsoBackend(OIDCAuthenticationBackend):
    """OpenID Connect authorization code flow (PKCE, state, nonce) with just-in-time users."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Unlike the parent, read nothing from the provider here: Django builds every backend for
        # every password login too, and that must work while the provider is down.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return discovery.setting(attr, *args)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802  (the parent's attribute name)
        return str(discovery.setting("OIDC_OP_TOKEN_ENDPOINT"))

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return str(discovery.setting("OIDC_OP_USER_ENDPOINT"))

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return str(discovery.setting("OIDC_OP_JWKS_ENDPOINT"))

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if not settings.OIDC_ENABLED or request is None or "code" not in request.GET:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:
            # A wrong nonce, issuer, audience or signature: refused, and logged for security.
            security_logger.warning("SSO login refused: %s", exc)
        except requests.RequestException as exc:
            # The provider refused the code (a wrong PKCE verifier, a replayed code) or is down.
            logger.warning("SSO login failed at the provider: %s", exc)
        return None

    def retrieve_matching_jwk(self, token: str) -> Any:
        """The provider's signing key for `token`, found by its `kid`.

        A token without a `kid` (allowed when the provider has one key) is checked against the
        only key the provider publishes; with several keys it is refused.
        """
        import jwt

        if "kid" in jwt.get_unverified_header(token):
            return super().retrieve_matching_jwk(token)
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        keys = response.json().get("keys", [])
        if len(keys) != 1:
            raise SuspiciousOperation("ID token without a key id, and the provider has several keys.")
        return jwt.PyJWK(keys[0])

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Check signature, expiry and nonce (the library), then issuer and audience (here)."""
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        issuer = str(settings.OIDC_OP_ISSUER).rstrip("/")
        if str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation(f"ID token from issuer {payload.get('iss')!r}, expected {issuer!r}.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token not issued to this client (aud).")
        if len(audiences) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("ID token with several audiences and another authorized party (azp).")
        if not payload.get("sub"):
            raise SuspiciousOperation("ID token without a subject (sub).")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """Sync the user from the ID token's claims (plus userinfo's, for the same `sub`)."""
        claims = dict(payload)
        if settings.OIDC_OP_USER_ENDPOINT or discovery.discovery_document().get("userinfo_endpoint"):
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if str(userinfo.get("sub")) != str(payload["sub"]):
                raise SuspiciousOperation("The userinfo answer is about another subject.")
            # The ID token's claims win: they are signed, userinfo only fills the gaps.
            claims = {**userinfo, **payload}
        login = sso_login_sync(issuer=str(settings.OIDC_OP_ISSUER).rstrip("/"), claims=claims)
        if login.refused:
            logger.info("SSO login refused for %s: %s", login.user.get_username(), login.refused)
            if self.request is not None:
                self.request.sso_refusal = login.refused
            return None
        return login.user

    def get_user(self, user_id: Any) -> Any:
        # The parent returns inactive users too, which would keep a deactivated user's session.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None
