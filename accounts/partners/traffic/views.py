"""A key's traffic page (requests per second by method, refusals, latency, the plan's Fit for the key)
and a plan's Fit page (every key on the plan, one recommendation, Apply).

Thin views: parse, call one selector or service (which checks `accounts.access`), render.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts.partners import selectors as partner_selectors
from accounts.partners.models import UsagePlan
from accounts.partners.services.fit import traffic_plan_recommendation_apply
from accounts.partners.traffic import selectors
from accounts.partners.traffic.aggregation import ALL_METHODS, minute_of
from accounts.partners.traffic.forms import ApplyBurstForm, ApplyRecommendationForm, TrafficWindowForm
from portal.pages import actor_of, portal_view

DEFAULT_HOURS = 6


def _page(
    request: HttpRequest, pk: int, form: ApplyRecommendationForm | None, status: int = 200
) -> HttpResponse:
    key = partner_selectors.key_get(user=request.user, pk=pk)
    window = TrafficWindowForm(request.GET)
    hours = (window.cleaned_data.get("hours") if window.is_valid() else None) or DEFAULT_HOURS
    fit = selectors.traffic_plan_fit(user=request.user, key=key)
    if form is None:
        form = ApplyRecommendationForm(
            initial={"rate": fit.rate, "burst": fit.burst, "quota_limit": fit.quota_limit}
        )
    return render(
        request,
        "partners/traffic/key_traffic.html",
        {
            "key": key,
            "hours": hours,
            "chart": selectors.traffic_minute_chart(user=request.user, key=key, hours=hours),
            "fit": fit,
            "forecast": selectors.traffic_quota_forecast(user=request.user, key=key),
            "form": form,
            "all_methods": ALL_METHODS,
            "keys_on_plan": key.plan.keys.count(),
        },
        status=status,
    )


@portal_view
@require_safe
def key_traffic(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, pk, None)


def _hours(request: HttpRequest) -> int:
    window = TrafficWindowForm(request.GET)
    return (window.cleaned_data.get("hours") if window.is_valid() else None) or DEFAULT_HOURS


@portal_view
@require_safe
def key_traffic_data(request: HttpRequest, pk: int) -> JsonResponse:
    """The chart's data (static/js/traffic-chart.js fetches it: no inline script under the CSP)."""
    key = partner_selectors.key_get(user=request.user, pk=pk)
    chart = selectors.traffic_minute_chart(user=request.user, key=key, hours=_hours(request))
    return JsonResponse(chart.data)


CSV_FIELDS = [
    "minute",
    "stage",
    "method",
    "requests",
    "steady",
    "burst",
    "ok",
    "client_errors",
    "server_errors",
    "throttled",
    "quota_refused",
    "latency_p50",
    "latency_p99",
]


@portal_view
@require_safe
def key_traffic_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The figures of the page's chart and tables as CSV: every minute, all methods and per method."""
    key = partner_selectors.key_get(user=request.user, pk=pk)
    window = TrafficWindowForm(request.GET)
    hours = (window.cleaned_data.get("hours") if window.is_valid() else None) or DEFAULT_HOURS
    end = minute_of(datetime.now(UTC)) + timedelta(minutes=1)
    rows = selectors.traffic_minutes(
        user=request.user, key=key, since=end - timedelta(hours=hours), until=end
    ).order_by("minute", "stage", "method")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="traffic-key-{key.pk}-{hours}h.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_FIELDS)
    for row in rows.values_list(*CSV_FIELDS).iterator(chunk_size=2000):
        writer.writerow([row[0].strftime("%Y-%m-%dT%H:%MZ"), *row[1:]])
    return response


@portal_view
@require_POST
def key_traffic_apply(request: HttpRequest, pk: int) -> HttpResponse:
    key = partner_selectors.key_get(user=request.user, pk=pk)
    form = ApplyRecommendationForm(request.POST)
    if form.is_valid():
        try:
            plan = traffic_plan_recommendation_apply(
                actor=actor_of(request),
                plan=key.plan,
                rate=form.cleaned_data["rate"],
                burst=form.cleaned_data["burst"],
                quota_limit=form.cleaned_data["quota_limit"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Plan {plan.name} now allows {plan.rate_limit.normalize():f}/s, burst {plan.burst_limit}.",
            )
            return redirect("partners:key-traffic", pk=key.pk)
    return _page(request, pk, form, status=400)


def _plan_page(
    request: HttpRequest,
    pk: int,
    form: ApplyRecommendationForm | None = None,
    burst_form: ApplyBurstForm | None = None,
    status: int = 200,
) -> HttpResponse:
    plan = partner_selectors.plan_get(user=request.user, pk=pk)
    fit = selectors.traffic_plan_fit_of_plan(user=request.user, plan=plan)
    if form is None:
        form = ApplyRecommendationForm(
            initial={"rate": fit.rate, "burst": fit.burst, "quota_limit": fit.quota_limit}
        )
    if burst_form is None:
        burst_form = ApplyBurstForm(initial={"burst": fit.burst}, prefix="only")
    return render(
        request,
        "partners/traffic/plan_fit.html",
        {"plan": plan, "fit": fit, "form": form, "burst_form": burst_form, "all_methods": ALL_METHODS},
        status=status,
    )


@portal_view
@require_safe
def plan_fit(request: HttpRequest, pk: int) -> HttpResponse:
    return _plan_page(request, pk)


@portal_view
@require_POST
def plan_fit_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Apply the whole recommendation (rate, burst, quota), or with `only-burst` the burst alone."""
    plan: UsagePlan = partner_selectors.plan_get(user=request.user, pk=pk)
    form: ApplyRecommendationForm | ApplyBurstForm
    burst_only = "only-burst" in request.POST
    form = (
        ApplyBurstForm(request.POST, prefix="only") if burst_only else ApplyRecommendationForm(request.POST)
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            plan = traffic_plan_recommendation_apply(
                actor=actor_of(request),
                plan=plan,
                rate=None if burst_only else data["rate"],
                burst=data["burst"],
                quota_limit=None if burst_only else data["quota_limit"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Plan {plan.name} now allows {plan.rate_limit.normalize():f}/s, burst {plan.burst_limit}.",
            )
            return redirect("partners:plan-fit", pk=plan.pk)
    if isinstance(form, ApplyBurstForm):
        return _plan_page(request, pk, burst_form=form, status=400)
    return _plan_page(request, pk, form=form, status=400)
