"""Change request pages: the list, one request (diff, preview with and without, review), the
market's approval policy. Every view checks the user's rights through the selectors and services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action, can, can_in_group
from markets.groups.selectors import group_get
from markets.models import Market, MarketGroup
from markets.selectors import market_get
from portal.change_requests.forms import (
    CommentForm,
    PolicyForm,
    PreviewAtForm,
    RejectForm,
    RequestFilterForm,
    RequestForm,
)
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.preview import request_preview
from portal.change_requests.selectors import (
    may_review,
    request_approvers,
    request_diff,
    request_get,
    request_list,
)
from portal.change_requests.services import (
    group_policy_for,
    group_policy_set,
    policy_for,
    policy_set,
    request_approve,
    request_comment,
    request_refresh,
    request_reject,
    request_submit,
    request_update,
    request_withdraw,
)
from portal.forms import add_service_errors, utc_to_wall, wall_to_utc
from portal.pages import actor_of, page, portal_view

PAGE_SIZE = 50


@portal_view
@require_GET
def request_index(request: HttpRequest) -> HttpResponse:
    """Change requests in the markets the user may see, filtered by state, market and author."""
    form = RequestFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = request_list(
        user=request.user,
        state=filters.get("state", ""),
        market=filters.get("market", ""),
        author=filters.get("author", ""),
    )
    paginator = Paginator(qs, PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return page(request, "change_requests/list.html", {"form": form, "page_obj": page_obj})


def _preview_member(request: HttpRequest, cr: ChangeRequest) -> tuple[list[Market], Market | None]:
    """A group request's members, and the one previewed (`?member=DE`, else the first)."""
    if cr.group is None:
        return [], cr.market
    members = sorted(
        (link.market for link in cr.group.member_links.select_related("market")), key=lambda m: m.code
    )
    wanted = (request.GET.get("member") or "").strip().upper()
    return members, next((m for m in members if m.code == wanted), members[0] if members else None)


def _detail_context(request: HttpRequest, cr: ChangeRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    members, market = _preview_member(request, cr)
    zone = cr.scope_timezone
    is_author = cr.author_id == user.pk
    at_form = PreviewAtForm(request.GET or None)
    at = cr.apply_at or timezone.now()
    if at_form.is_valid() and at_form.cleaned_data.get("at"):
        try:
            at = wall_to_utc(at_form.cleaned_data["at"], zone, field="at") or at
        except ValidationError as exc:
            add_service_errors(at_form, exc)
    if not request.GET.get("at"):
        at_form = PreviewAtForm(initial={"at": utc_to_wall(at, zone)})
    diffs = request_diff(cr)
    open_state = cr.state in (RequestState.DRAFT, RequestState.SUBMITTED, RequestState.APPROVED)
    reviewer = may_review(user, cr)
    context = {
        "cr": cr,
        "market": market,
        "group": cr.group,
        "members": members,
        "zone": zone,
        "diffs": diffs,
        "stale": any(d.stale for d in diffs),
        "open_or_failed": open_state or cr.state == RequestState.FAILED,
        "approvals": request_approvers(cr),
        "comments": list(cr.comments.select_related("author")),
        "preview": request_preview(cr, at=at, member=market) if diffs and market is not None else None,
        "at_form": at_form,
        "is_author": is_author,
        "can_edit": is_author and cr.state in (RequestState.DRAFT, RequestState.SUBMITTED),
        "can_submit": is_author and cr.state == RequestState.DRAFT and bool(diffs),
        "can_review": reviewer and cr.state == RequestState.SUBMITTED,
        "can_reject": reviewer and cr.state in (RequestState.SUBMITTED, RequestState.APPROVED),
        "can_withdraw": is_author and (open_state or cr.state == RequestState.FAILED),
        "can_refresh": is_author and (open_state or cr.state == RequestState.FAILED),
        "own_request": is_author and cr.state == RequestState.SUBMITTED,
        "edit_form": RequestForm(
            initial={
                "title": cr.title,
                "description": cr.description,
                "apply_at": utc_to_wall(cr.apply_at, zone),
            },
            timezone=zone,
        ),
        "comment_form": CommentForm(),
        "reject_form": RejectForm(),
    }
    context.update(extra)
    return context


@portal_view
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: what it changes (before → after), the market with and without it, its review."""
    cr = request_get(user=request.user, pk=pk)
    return page(request, "change_requests/detail.html", _detail_context(request, cr))


@portal_view
@require_POST
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The author sets the title, description and apply time (submitting it too, if asked)."""
    cr = request_get(user=request.user, pk=pk)
    form = RequestForm(request.POST, timezone=cr.scope_timezone)
    if form.is_valid():
        try:
            request_update(
                actor=actor_of(request),
                request=cr,
                title=form.cleaned_data["title"],
                description=form.cleaned_data.get("description") or "",
                apply_at=form.cleaned_data.get("apply_at"),
            )
            if request.POST.get("submit") and cr.state == RequestState.DRAFT:
                request_submit(actor=actor_of(request), request=cr)
                messages.success(request, f"Request #{cr.pk} submitted for review.")
            else:
                messages.success(request, f"Request #{cr.pk} saved.")
            return redirect("change_requests:detail", pk=cr.pk)
        except ValidationError as exc:
            add_service_errors(form, exc)
    return page(
        request, "change_requests/detail.html", _detail_context(request, cr, edit_form=form), status=422
    )


def _transition(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    cr = request_get(user=request.user, pk=pk)
    actor = actor_of(request)
    try:
        if action == "submit":
            request_submit(actor=actor, request=cr)
            messages.success(request, f"Request #{cr.pk} submitted for review.")
        elif action == "approve":
            cr = request_approve(actor=actor, request=cr)
            if cr.state == RequestState.APPLIED:
                messages.success(request, f"Request #{cr.pk} approved and applied.")
            elif cr.state == RequestState.FAILED:
                messages.error(
                    request, f"Request #{cr.pk} approved but could not be applied: {cr.failure_reason}"
                )
            else:
                messages.success(request, f"Request #{cr.pk}: your approval is recorded.")
        elif action == "reject":
            form = RejectForm(request.POST)
            reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
            request_reject(actor=actor, request=cr, reason=reason)
            messages.success(request, f"Request #{cr.pk} rejected.")
        elif action == "withdraw":
            request_withdraw(actor=actor, request=cr)
            messages.success(request, f"Request #{cr.pk} withdrawn.")
        elif action == "refresh":
            request_refresh(actor=actor, request=cr)
            messages.success(request, f"Request #{cr.pk} now builds on the current versions.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("change_requests:detail", pk=cr.pk)


@portal_view
@require_POST
def request_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, "submit")


@portal_view
@require_POST
def request_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, "approve")


@portal_view
@require_POST
def request_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, "reject")


@portal_view
@require_POST
def request_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, "withdraw")


@portal_view
@require_POST
def request_refresh_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, "refresh")


@portal_view
@require_POST
def request_comment_view(request: HttpRequest, pk: int) -> HttpResponse:
    cr = request_get(user=request.user, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            request_comment(actor=actor_of(request), request=cr, body=form.cleaned_data["body"])
            return redirect("change_requests:detail", pk=cr.pk)
        except ValidationError as exc:
            add_service_errors(form, exc)
    context = _detail_context(request, cr, comment_form=form)
    return page(request, "change_requests/detail.html", context, status=422)


@portal_view
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest, code: str) -> HttpResponse:
    """The market's approval policy (market managers and admins)."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_MARKET_SETTINGS)
    context: dict[str, Any] = {
        "market": market,
        "can_edit_settings": can(request.user, Action.EDIT_MARKET_SETTINGS, market),
    }
    return _policy_page(request, market, policy_for(market), context)


@portal_view
@require_http_methods(["GET", "POST"])
def group_policy(request: HttpRequest, code: str) -> HttpResponse:
    """A market group's approval policy (admins and managers of the group)."""
    try:
        group = group_get(user=request.user, code=code, action=Action.EDIT_MARKET_SETTINGS)
    except MarketGroup.DoesNotExist:
        raise Http404(f"There is no group {code}.") from None
    context: dict[str, Any] = {
        "group": group,
        "can_edit_policy": can_in_group(request.user, Action.EDIT_MARKET_SETTINGS, group),
    }
    return _policy_page(request, group, group_policy_for(group), context)


def _policy_page(
    request: HttpRequest, target: Market | MarketGroup, current: Any, context: dict[str, Any]
) -> HttpResponse:
    is_group = isinstance(target, MarketGroup)
    if request.method == "GET":
        initial = {
            "approvals_required": current.approvals_required if current else 0,
            "rules": current.rules if current else False,
            "settings": current.settings if current else False,
            "positions": current.positions if current else False,
            "bulk_threshold": current.bulk_threshold if current else None,
        }
        context["form"] = PolicyForm(initial=initial, for_group=is_group)
        return page(request, "change_requests/policy.html", context)
    form = PolicyForm(request.POST, for_group=is_group)
    context["form"] = form
    if form.is_valid():
        try:
            if isinstance(target, MarketGroup):
                group_policy_set(actor=actor_of(request), group=target, **form.cleaned_data)
                messages.success(request, f"Approval policy of group {target.code} saved.")
                return redirect("change_requests:group_policy", code=target.code)
            policy_set(actor=actor_of(request), market=target, **form.cleaned_data)
            messages.success(request, f"Approval policy of {target.code} saved.")
            return redirect("change_requests:policy", code=target.code)
        except ValidationError as exc:
            add_service_errors(form, exc)
    return page(request, "change_requests/policy.html", context, status=422)
