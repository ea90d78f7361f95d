"""Pages of the accounts area: list, create and revoke API tokens (thin: parse, call, render)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import Action, can
from accounts.forms import ApiTokenForm
from accounts.selectors import visible_tokens
from accounts.services import api_token_create, api_token_revoke
from accounts.sso.reauth import reauth_required
from portal.pages import actor_of, portal_view
from portal.submit_once import SECRET_SHOWN_HEADER, submit_once

OTHERS_LIMIT = 200


@portal_view
@reauth_required(methods=["POST"])
@submit_once
def tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens (admins: everyone's) and create one; the secret is shown once."""
    user = actor_of(request)
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_token_create(
                actor=user,
                user=user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                never_expires=form.never_expires,
                via="portal",
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            response = render(
                request, "accounts/token_created.html", {"token": issued.token, "secret": issued.secret}
            )
            # The one page that ever shows the secret must not be kept by the browser or a proxy.
            response["Cache-Control"] = "no-store"
            # A repeat of this POST (a reload) creates nothing and lands on the list instead.
            response["Location"] = reverse("accounts:tokens")
            response[SECRET_SHOWN_HEADER] = "1"
            return response
    is_admin = can(user, Action.MANAGE_USERS)
    user_filter = request.GET.get("user", "").strip()
    others = None
    if is_admin:
        others = visible_tokens(user).exclude(user=user)
        if user_filter:
            others = others.filter(user__username=user_filter)
        others = others[:OTHERS_LIMIT]
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "own_tokens": visible_tokens(user).filter(user=user),
            "is_admin": is_admin,
            "other_tokens": others,
            "user_filter": user_filter,
            "others_limit": OTHERS_LIMIT,
        },
        status=400 if form.errors else 200,
    )


@portal_view
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's tokens (admins: anyone's); it stops working at once."""
    user = actor_of(request)
    token = visible_tokens(user).filter(pk=pk).first()
    if token is None:
        raise Http404("There is no such token among those you may see.")
    api_token_revoke(actor=user, token=token, via="portal")
    owner = "" if token.user_id == user.pk else f" of {token.user.get_username()}"
    messages.success(request, f"Token “{token.name}”{owner} is revoked: it stopped working at once.")
    return redirect("accounts:tokens")
