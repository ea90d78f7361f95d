"""The publishing page (`/publishing/`): pending and dead outbox rows, and retrying dead letters.

Admins only (see services.PUBLISHING_ACTION). Thin: parse, call one selector or service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import require
from portal.pages import actor_of, portal_view
from portal.shared_tables.selectors import dead_letters, publish_status
from portal.shared_tables.services import PUBLISHING_ACTION, dead_letters_retry

# The page lists this many dead letters; "Retry all" covers every one of them.
PAGE_LIMIT = 200


@portal_view
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    """Show the publish backlog and the dead letters with their errors."""
    require(request.user, PUBLISHING_ACTION)
    status = publish_status()
    rows = list(dead_letters()[:PAGE_LIMIT])
    return render(
        request,
        "publishing/outbox.html",
        {"status": status, "dead_letters": rows, "page_limit": PAGE_LIMIT},
    )


@portal_view
@require_POST
def retry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Queue one dead letter again."""
    queued = dead_letters_retry(actor=actor_of(request), entry_ids=[entry_id])
    if queued:
        messages.success(request, f"Dead letter #{entry_id} is queued again and is being published.")
    else:
        messages.warning(request, f"#{entry_id} is not a dead letter (any more): nothing to retry.")
    return redirect("publishing:outbox")


@portal_view
@require_POST
def retry_all(request: HttpRequest) -> HttpResponse:
    """Queue every dead letter again."""
    queued = dead_letters_retry(actor=actor_of(request))
    if queued:
        messages.success(request, f"{queued} dead letter(s) queued again and being published.")
    else:
        messages.info(request, "There are no dead letters to retry.")
    return redirect("publishing:outbox")
