"""Partners area pages: partners, usage plans, keys (issue, rotate, suspend, revoke, top up), usage.

Thin views: parse, call one service or selector (which checks `accounts.access`), render. A key's
secret is rendered once, in the answer to the POST that created it, and never stored anywhere
(not in the session, not in messages, not in a redirect); every create form is `@submit_once`, so
reloading that answer re-sends the POST, which issues nothing and redirects to the key.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.access import Action, require
from accounts.partners import selectors, services
from accounts.partners.enforcement import require_partner_key
from accounts.partners.forms import (
    ConfirmForm,
    IssueKeyForm,
    PartnerForm,
    RotateForm,
    TopUpForm,
    UsagePlanForm,
    apply_service_errors,
)
from accounts.partners.gateway import GatewayError
from accounts.partners.models import KeyStatus, PartnerApiKey, QuotaTopUp
from accounts.partners.traffic import selectors as traffic_selectors
from accounts.sso.reauth import reauth_required
from portal.bounds import whole_number
from portal.pages import actor_of, is_htmx, portal_view, safe_next
from portal.submit_once import SECRET_SHOWN_HEADER, submit_once

KEYS_PER_PAGE = 50
STATUS_ACTIONS = {
    "suspend": ("Suspend", services.key_suspend, "suspended"),
    "resume": ("Resume", services.key_resume, "resumed"),
    "revoke": ("Revoke", services.key_revoke, "revoked"),
}


def _secret_page(request: HttpRequest, issued: services.IssuedKey, *, title: str, back: str) -> HttpResponse:
    response = render(
        request,
        "partners/key_secret.html",
        {"key": issued.key, "secret": issued.secret, "title": title, "back": back},
        status=201,
    )
    # The secret must not be kept by the browser's or any proxy's cache.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    # Where the key lives: a repeat of this POST (a reload) is sent there, without the secret.
    response["Location"] = back
    response[SECRET_SHOWN_HEADER] = "1"
    return response


# --- partners ------------------------------------------------------------------------------------
@portal_view
@require_safe
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = list(selectors.partner_list(user=request.user))
    return render(
        request,
        "partners/list.html",
        {
            "partners": partners,
            "alerts": selectors.quota_alerts(user=request.user),
            "expiring": selectors.expiring_keys(user=request.user),
            "problems": selectors.sync_problems(user=request.user),
        },
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
@submit_once
def partner_create(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.MANAGE_PARTNERS)
    form = PartnerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner = services.partner_create(actor=actor_of(request), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Partner {partner.name} added. Issue it a key next.")
            return redirect("partners:detail", pk=partner.pk)
    return render(request, "partners/partner_form.html", {"form": form, "partner": None})


@portal_view
@require_safe
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_get(user=request.user, pk=pk)
    keys = list(selectors.key_list(user=request.user, partner_id=partner.pk))
    return render(
        request,
        "partners/partner_detail.html",
        {
            "partner": partner,
            "rows": _rows(keys),
            "traffic": traffic_selectors.traffic_partner_summary(user=request.user, keys=keys),
        },
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def partner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_get(user=request.user, pk=pk)
    form = PartnerForm.for_partner(partner, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.partner_update(actor=actor_of(request), partner=partner, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Partner {partner.name} saved.")
            return redirect("partners:detail", pk=partner.pk)
    return render(request, "partners/partner_form.html", {"form": form, "partner": partner})


# --- usage plans -----------------------------------------------------------------------------------
@portal_view
@require_safe
def plan_list(request: HttpRequest) -> HttpResponse:
    plans = list(selectors.plan_list(user=request.user))
    return render(
        request,
        "partners/plans.html",
        {"plans": plans, "limit_warning": selectors.plan_limit_warning(user=request.user)},
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
@submit_once
def plan_create(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.MANAGE_PARTNERS)
    form = UsagePlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.plan_create(actor=actor_of(request), data=form.to_input())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Usage plan {plan.name} created.")
            warning = selectors.plan_limit_warning(user=request.user)
            if warning:
                messages.warning(request, warning)
            return redirect("partners:plans")
    return render(request, "partners/plan_form.html", {"form": form, "plan": None})


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get(user=request.user, pk=pk)
    form = UsagePlanForm.for_plan(plan, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_update(actor=actor_of(request), plan=plan, data=form.to_input())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Usage plan {plan.name} saved.")
            return redirect("partners:plans")
    return render(request, "partners/plan_form.html", {"form": form, "plan": plan})


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def plan_delete(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get(user=request.user, pk=pk)
    if request.method == "POST":
        try:
            services.plan_delete(actor=actor_of(request), plan=plan)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect("partners:plan-edit", pk=plan.pk)
        messages.success(request, f"Usage plan {plan.name} deleted.")
        return redirect("partners:plans")
    return render(
        request,
        "partners/confirm.html",
        {
            "title": f"Delete the usage plan {plan.name}?",
            "body": "The plan is removed from the gateway. "
            "Plans with active or suspended keys cannot be deleted.",
            "button": "Delete plan",
            "danger": True,
            "cancel": reverse("partners:plan-edit", args=[plan.pk]),
            "form": ConfirmForm(),
        },
    )


@portal_view
@require_POST
@submit_once
def plan_retry(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_get(user=request.user, pk=pk)
    state = services.plan_retry_sync(actor=actor_of(request), plan=plan)
    _sync_message(request, f"Plan {plan.name}", state)
    return redirect("partners:plans")


def _sync_message(request: HttpRequest, what: str, state: str) -> None:
    if state == "synced":
        messages.success(request, f"{what} is on the gateway.")
    elif state == "pending":
        messages.info(request, f"{what} changed meanwhile; its latest version is syncing.")
    else:
        messages.error(request, f"{what} could not be synced; see the error and retry later.")


# --- keys ------------------------------------------------------------------------------------------
def _rows(keys: list[PartnerApiKey]) -> list[tuple[PartnerApiKey, selectors.UsageSummary | None]]:
    usage = selectors.usage_summaries(keys)
    return [(key, usage.get(key.pk)) for key in keys]


def _int_or_none(value: str | None) -> int | None:
    return whole_number(value)


@portal_view
@require_safe
def key_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status not in KeyStatus.values:
        status = None
    keys = selectors.key_list(
        user=request.user,
        partner_id=_int_or_none(request.GET.get("partner")),
        plan_id=_int_or_none(request.GET.get("plan")),
        status=status,
    )
    page = Paginator(keys, KEYS_PER_PAGE).get_page(request.GET.get("page"))
    page_keys = list(page.object_list)
    return render(
        request,
        "partners/keys.html",
        {
            "page": page,
            "rows": _rows(page_keys),
            "status": status or "",
            "statuses": KeyStatus.choices,
        },
    )


@portal_view
@reauth_required()
@require_http_methods(["GET", "HEAD", "POST"])
@submit_once
def key_issue(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.MANAGE_PARTNERS)
    initial = {
        "partner": _int_or_none(request.GET.get("partner")),
        "plan": _int_or_none(request.GET.get("plan")),
    }
    form = IssueKeyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.key_issue(actor=actor_of(request), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return _secret_page(
                request, issued, title="Key issued", back=reverse("partners:key-detail", args=[issued.key.pk])
            )
    return render(request, "partners/key_issue.html", {"form": form})


@portal_view
@require_safe
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = selectors.key_get(user=request.user, pk=pk)
    return render(
        request,
        "partners/key_detail.html",
        {
            "key": key,
            "usage": selectors.usage_summaries([key]).get(key.pk),
            "chart": selectors.key_usage_chart(user=request.user, key=key),
            "top_ups": selectors.key_top_ups(user=request.user, key=key),
            "successor": getattr(key, "replaced_by", None),
            "now": timezone.now(),
        },
    )


@portal_view
@reauth_required()
@require_http_methods(["GET", "HEAD", "POST"])
@submit_once
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    key = selectors.key_get(user=request.user, pk=pk)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.key_rotate(actor=actor_of(request), key=key, grace=form.grace_period())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return _secret_page(
                request,
                issued,
                title="Key rotated",
                back=reverse("partners:key-detail", args=[issued.key.pk]),
            )
    return render(request, "partners/key_rotate.html", {"form": form, "key": key})


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def key_status(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    key = selectors.key_get(user=request.user, pk=pk)
    if action not in STATUS_ACTIONS:
        return redirect("partners:key-detail", pk=key.pk)
    label, service, done = STATUS_ACTIONS[action]
    if request.method == "POST":
        try:
            service(actor=actor_of(request), key=key)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, f"Key {key.display} {done}.")
        return redirect("partners:key-detail", pk=key.pk)
    bodies = {
        "suspend": "Requests with this key are refused (403) until you resume it.",
        "resume": "The key works again at once.",
        "revoke": "Revoking is permanent: the key is deleted from the gateway and can never work again.",
    }
    return render(
        request,
        "partners/confirm.html",
        {
            "title": f"{label} the key {key.display} of {key.partner.name}?",
            "body": bodies[action],
            "button": f"{label} key",
            "danger": action == "revoke",
            "cancel": reverse("partners:key-detail", args=[key.pk]),
            "form": ConfirmForm(),
        },
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
@submit_once
def key_top_up(request: HttpRequest, pk: int) -> HttpResponse:
    key = selectors.key_get(user=request.user, pk=pk)
    form = TopUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.key_top_up(actor=actor_of(request), key=key, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request, f"Key {key.display} topped up by {form.cleaned_data['amount']:,} requests."
            )
            return redirect("partners:key-detail", pk=key.pk)
    return render(request, "partners/key_top_up.html", {"form": form, "key": key})


@portal_view
@require_POST
@submit_once
def key_retry(request: HttpRequest, pk: int) -> HttpResponse:
    key = selectors.key_get(user=request.user, pk=pk)
    issued = services.key_retry_sync(actor=actor_of(request), key=key)
    if issued is not None:
        return _secret_page(
            request, issued, title="Key re-issued", back=reverse("partners:key-detail", args=[key.pk])
        )
    key.refresh_from_db()
    _sync_message(request, f"Key {key.display}", key.sync_state)
    return redirect("partners:key-detail", pk=key.pk)


@portal_view
@require_POST
@submit_once
def top_up_retry(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, Action.MANAGE_PARTNERS)
    top_up = QuotaTopUp.objects.filter(pk=pk).first()
    if top_up is None:
        raise Http404("There is no such top-up.")
    state = services.top_up_retry_sync(actor=actor_of(request), top_up=top_up)
    _sync_message(request, f"The top-up of {top_up.amount:,}", state)
    return redirect("partners:key-detail", pk=top_up.key_id)


@portal_view
@require_POST
def usage_refresh(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.MANAGE_PARTNERS)
    try:
        rows = services.usage_sync(days=2)
    except GatewayError as exc:
        messages.error(request, f"Usage could not be read from the gateway: {exc}")
    else:
        messages.success(request, f"Usage refreshed ({rows} key-days).")
    # Back where the button was, if that is on this site: never an open redirect.
    return redirect(safe_next(request, request.POST.get("next"), reverse("partners:keys")))


@portal_view
@require_safe
def alerts(request: HttpRequest) -> HttpResponse:
    """The dashboard's partner panel on its own (quota alerts and keys about to expire)."""
    require(request.user, Action.MANAGE_PARTNERS)
    context: dict[str, Any] = {
        "alerts": selectors.quota_alerts(user=request.user),
        "expiring": selectors.expiring_keys(user=request.user),
    }
    template = "partners/_alerts.html" if is_htmx(request) else "partners/alerts.html"
    return render(request, template, context)


# --- the stand-in protected endpoint -------------------------------------------------------------
@require_partner_key(resource="/partners/probe")
@require_safe
def probe(request: HttpRequest) -> JsonResponse:
    """A tiny endpoint behind partner-key enforcement: proves a key works and shows its prefix."""
    return JsonResponse({"ok": True, "key": request.partner_key.prefix})  # type: ignore[attr-defined]  # set by require_partner_key
