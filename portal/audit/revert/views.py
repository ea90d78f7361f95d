"""The revert pages: a confirmation that lists what will change and what is skipped, then the result.

Sending the form twice is harmless: the second time every entry is already reverted.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from markets.selectors import market_list
from portal.audit.revert.selectors import RevertPlan, RevertTarget, revert_preview
from portal.audit.revert.services import approvals_ahead, revert_apply
from portal.bounds import whole_number
from portal.pages import actor_of, page, portal_view

# The confirmation lists this many entries per group; the counts always cover them all.
LISTED = 100


def _context(request: HttpRequest, plan: RevertPlan, target: RevertTarget) -> dict[str, Any]:
    first = plan.steps[0].entry
    return {
        "plan": plan,
        "target": target,
        "first": first,
        "is_batch": target.batch is not None,
        "listed": LISTED,
        "markets_by_code": {m.code: m for m in market_list(user=request.user)},
    }


def _forced(request: HttpRequest) -> set[int]:
    return {n for n in (whole_number(v) for v in request.POST.getlist("force")) if n is not None}


def _revert(request: HttpRequest, target: RevertTarget) -> HttpResponse:
    if request.method == "POST":
        plan, result = revert_apply(actor=actor_of(request), target=target, force=_forced(request))
        context = {**_context(request, plan, target), "result": result}
        return page(request, "audit/revert_done.html", context)
    plan = revert_preview(user=request.user, target=target)
    context = {**_context(request, plan, target), "approvals_ahead": approvals_ahead(plan)}
    return page(request, "audit/revert_confirm.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def revert_entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Revert one change from the audit log (GET: what would happen; POST: do it)."""
    return _revert(request, RevertTarget(entry_id=entry_id))


@portal_view
@require_http_methods(["GET", "POST"])
def revert_batch(request: HttpRequest, batch: uuid.UUID) -> HttpResponse:
    """Revert a whole bulk change from the audit log (GET: what would happen; POST: do it)."""
    return _revert(request, RevertTarget(batch=batch))
