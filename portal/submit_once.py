"""One-time form tokens: a create form sent twice creates once.

A browser re-sends a POST when the person reloads the answer, goes back and submits again, or
double-clicks: without a guard that issued a second live partner key, a second plan, a second
token. Every create/issue/rotate/top-up form carries a random token (`{% submit_once_field %}`
from `portal/templatetags/submit_once.py`); `@submit_once` on its view lets the first POST with a
token through and answers any later POST with the same token by redirecting to the first one's
result, with a note, doing nothing again.

The record is the API's `IdempotencyRecord` (per user, unique key, 24 hours), so two concurrent
POSTs cannot both claim a token. Only the result's URL is recorded, never the answer: a page that
shows a secret is not stored anywhere (docs/security.md), so a repeat says the secret was shown once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from portal.idempotency import IdempotencyRecord, claim_key

FIELD = "submit_token"
KEY_PREFIX = "form:"
# A view that shows a one-time secret in its answer sets this header (with `Location`), so that
# a repeat can say so instead of showing it again.
SECRET_SHOWN_HEADER = "X-Meridian-Secret-Shown"
ALREADY_SENT = "This form was already sent: nothing was done again."
SECRET_SHOWN_ONCE = (
    " Its secret was shown once, in the answer to the first submission, and is not kept: "
    "if it was lost, rotate (or revoke) it and use the new one."
)
IN_PROGRESS = "This form is still being sent: wait a moment and reload this page."

ViewFunc = Callable[..., HttpResponse]


def new_token() -> str:
    """Return a fresh one-time token for a form."""
    return secrets.token_urlsafe(18)


def _result_url(response: HttpResponse) -> str | None:
    """Return where the result of a successful POST lives, or None when it did not succeed."""
    if response.status_code in (301, 302, 303, 307, 308) or (
        200 <= response.status_code < 300 and response.has_header("Location")
    ):
        return str(response["Location"])
    return None


def submit_once(view: ViewFunc) -> ViewFunc:
    """Let a POST with a given form token through once; later ones redirect to its result.

    A POST without a token (scripts, tests, forms without one) is processed as usual. A failed
    POST (the form re-rendered with errors, a refusal) frees its token for the corrected form.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token = request.POST.get(FIELD, "") if request.method == "POST" else ""
        user = getattr(request, "user", None)
        if not token or user is None or not user.is_authenticated:
            return view(request, *args, **kwargs)
        created, record = claim_key(
            user=user, key=f"{KEY_PREFIX}{token[:200]}", method="POST", path=request.path, digest=""
        )
        if not created:
            headers = record.response_headers or {}
            if record.status_code is None or "Location" not in headers:
                messages.warning(request, IN_PROGRESS)
                return HttpResponseRedirect(request.get_full_path())
            note = ALREADY_SENT + (SECRET_SHOWN_ONCE if headers.get("secret") else "")
            messages.info(request, note)
            return HttpResponseRedirect(headers["Location"])
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        location = _result_url(response)
        if location is None:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        record.status_code = 303
        record.response_headers = {"Location": location, "secret": response.has_header(SECRET_SHOWN_HEADER)}
        record.completed_at = timezone.now()
        record.save(update_fields=["status_code", "response_headers", "completed_at"])
        return response

    # Outer decorators copy this (functools.wraps), so tests can find every guarded route.
    wrapper.submits_once = True  # type: ignore[attr-defined]
    return wrapper
