"""Single sign-on pages: start and finish the OpenID Connect login, re-authenticate, and the
admins' group mappings (thin: parse, call one service or selector, render)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY, authenticate, login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.http import require_http_methods, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.sso import discovery
from accounts.sso.forms import ReauthForm, SsoGroupMappingForm
from accounts.sso.selectors import sso_mapping_get, sso_mapping_list
from accounts.sso.services import sso_mapping_create, sso_mapping_delete
from accounts.sso.sessions import mark_authenticated
from portal.pages import actor_of, portal_view, safe_next

SSO_BACKEND = "accounts.sso.backends.SsoBackend"
REAUTH_FLAG = "sso_reauth"


def _require_sso() -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("Single sign-on is not configured.")


class SsoLoginView(OIDCAuthenticationRequestView):
    """Send the browser to the provider (authorization code flow with PKCE, state and nonce)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _require_sso()
        super().__init__(*args, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return discovery.setting(attr, *args)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        if request.GET.get("reauth") == "1":
            # Ask the provider for a real sign-in now, not its remembered session.
            request.session[REAUTH_FLAG] = True
            return {"prompt": "login", "max_age": "0"}
        return {}


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """Finish the login: the library checks state, PKCE and nonce; SsoBackend does the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _require_sso()
        super().__init__(*args, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return discovery.setting(attr, *args)

    @property
    def failure_url(self) -> str:
        return resolve_url(settings.LOGIN_URL)

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, "sso_refusal", "") or (
            f"Signing in with {settings.OIDC_PROVIDER_NAME} did not work; please try again."
        )
        messages.error(self.request, reason)
        return HttpResponseRedirect(self.failure_url)

    def login_success(self) -> HttpResponse:
        response: HttpResponse = super().login_success()
        if self.request.session.pop(REAUTH_FLAG, False):
            # The same user came back through prompt=login: the library did not call login().
            mark_authenticated(self.request)
        return response


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def reauth(request: HttpRequest) -> HttpResponse:
    """Ask the user to prove who they are again: through the provider, or with their password."""
    user = actor_of(request)
    next_url = safe_next(
        request, request.POST.get("next") or request.GET.get("next"), resolve_url(settings.LOGIN_REDIRECT_URL)
    )
    via_sso = request.session.get(BACKEND_SESSION_KEY) == SSO_BACKEND and settings.OIDC_ENABLED
    form = ReauthForm(request.POST or None)
    if request.method == "POST" and not via_sso and form.is_valid():
        again = authenticate(request, username=user.get_username(), password=form.cleaned_data["password"])
        if again is not None and again.pk == user.pk:
            login(request, again)
            return redirect(next_url)
        form.add_error("password", "That password is not right.")
    return render(
        request,
        "sso/reauth.html",
        {
            "form": form,
            "next": next_url,
            "via_sso": via_sso,
            "minutes": settings.SSO_REAUTH_MINUTES,
            "provider_name": settings.OIDC_PROVIDER_NAME,
        },
        status=400 if form.errors else 200,
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def mappings(request: HttpRequest) -> HttpResponse:
    """List the provider group → role mappings and add one (admins)."""
    user = actor_of(request)
    rows = list(sso_mapping_list(user=user))
    form = SsoGroupMappingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mapping = sso_mapping_create(actor=user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"{mapping} added: it applies at each user's next sign-in.")
            return redirect("sso:mappings")
    return render(
        request,
        "sso/mappings.html",
        {
            "rows": rows,
            "form": form,
            "sso_enabled": settings.OIDC_ENABLED,
            "claim": settings.OIDC_GROUPS_CLAIM,
        },
        status=400 if form.errors else 200,
    )


@portal_view
@require_POST
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a mapping (admins); the memberships it granted go at each user's next sign-in."""
    user = actor_of(request)
    mapping = sso_mapping_get(user=user, pk=pk)
    sso_mapping_delete(actor=user, mapping=mapping)
    messages.success(request, f"{mapping} deleted: it stops granting at each user's next sign-in.")
    return redirect("sso:mappings")
