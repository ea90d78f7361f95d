"""What a portal page answers when a change it was asked to save became a change request."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from portal.change_requests.models import ChangeRequest
from portal.pages import is_htmx


def deferred(request: HttpRequest, cr: ChangeRequest, what: str = "This change") -> HttpResponse:
    """Say the change needs approval and was added to request `cr`, and go to the request's page."""
    messages.info(
        request,
        f"{what} needs approval in {'group ' if cr.group_id else ''}{cr.scope_code}: it was not saved yet "
        f"but added to change request #{cr.pk} ({cr.title}). Check it, set when it should apply and "
        "submit it for review.",
    )
    url = reverse("change_requests:detail", args=[cr.pk])
    if is_htmx(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)
