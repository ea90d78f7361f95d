"""Market pages: list, new market, (de)activation, overview (rules and pinned slots), settings,
rule editor, preview.

Every view checks the user's right in that market through accounts.access before anything else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action, can, grants_for, require
from content.models import Position
from content.selectors import market_dashboard_counts, market_pins, market_preview, preview_rows
from content.services.pins import pins_reorder
from markets.forms import MarketCreateForm, MarketSettingsForm, PreviewForm, RuleForm
from markets.groups.selectors import group_list, market_groups
from markets.groups.services import market_create_in_groups
from markets.models import Market, Rule
from markets.selectors import market_get, market_list, market_rules
from markets.services import (
    market_activate,
    market_deactivate,
    market_update,
    rule_create,
    rule_delete,
    rule_update,
)
from portal.bounds import whole_number
from portal.change_requests.pages import deferred
from portal.change_requests.services import Operation, approvals_needed, changes_defer
from portal.errors import Conflict
from portal.forms import add_service_errors, utc_to_wall, wall_to_utc
from portal.pages import actor_of, is_htmx, page, portal_view
from portal.submit_once import submit_once


@portal_view
@require_GET
def market_index(request: HttpRequest) -> HttpResponse:
    """The markets the user may view, with their current overrides and active rules."""
    user = request.user
    require(user, Action.VIEW_MARKET)
    markets = list(market_list(user=user))
    sees_all = Action.VIEW_MARKET in grants_for(user).everywhere
    counts = market_dashboard_counts(markets=markets, at=timezone.now(), all_markets=sees_all)
    manage = can(user, Action.MANAGE_MARKETS)
    return page(request, "markets/list.html", {"counts": counts, "manage": manage})


# --- new markets and (de)activation (admins) -----------------------------------------------------


def _copy_initial(request: HttpRequest) -> dict[str, Any]:
    """The form's start when the admin came from "Copy…" on a market: its rules and settings."""
    code = (request.GET.get("copy") or "").strip()
    if not code or "\x00" in code:
        return {"default_visibility": "visible"}
    try:
        source = market_get(user=request.user, code=code)
    except Market.DoesNotExist:
        return {"default_visibility": "visible"}
    return {
        "copy_rules_from": source.code,
        "languages": ", ".join(source.languages),
        "timezone": source.timezone,
        "default_visibility": source.default_visibility,
    }


@portal_view
@require_http_methods(["GET", "POST"])
@submit_once
def market_new(request: HttpRequest) -> HttpResponse:
    """Create a market or partner edition, empty or starting from another market's rules."""
    require(request.user, Action.MANAGE_MARKETS)
    choices = [(m.code, f"{m.code} — {m.name}") for m in market_list(user=request.user)]
    groups = {g.code: g for g in group_list(user=request.user) if g.active}
    group_choices = [(code, f"{code} — {g.name}") for code, g in groups.items()]
    if request.method == "GET":
        form = MarketCreateForm(
            initial=_copy_initial(request), market_codes=choices, group_codes=group_choices
        )
        return page(request, "markets/new.html", {"form": form})
    form = MarketCreateForm(request.POST, market_codes=choices, group_codes=group_choices)
    if not form.is_valid():
        return page(request, "markets/new.html", {"form": form}, status=422)
    data = form.cleaned_data
    source = market_get(user=request.user, code=data["copy_rules_from"]) if data["copy_rules_from"] else None
    try:
        market = market_create_in_groups(
            actor=actor_of(request),
            groups=[groups[code] for code in data["groups"]],
            copy_from=source,
            code=data["code"],
            name=data["name"],
            languages=data["languages"],
            timezone=data["timezone"] or None,
            default_visibility=data["default_visibility"],
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/new.html", {"form": form}, status=422)
    copied = f", with {market.rules.count()} rule(s) copied from {source.code}" if source else ""
    messages.success(
        request,
        f"{market.code} created{copied}. Grant people a role in it on their user's page "
        "(Django admin › Users) before they can see it.",
    )
    return redirect("markets:detail", code=market.code)


@portal_view
@require_http_methods(["GET", "POST"])
def market_status(request: HttpRequest, code: str, change: str) -> HttpResponse:
    """Confirm (GET) and make (POST) a market's deactivation or reactivation; admins only."""
    market = market_get(user=request.user, code=code)
    require(request.user, Action.MANAGE_MARKETS)
    activate = change == "activate"
    if request.method == "GET":
        return page(request, "markets/status.html", {**_rights(request, market), "activate": activate})
    version = whole_number(request.POST.get("version"))
    if version is None:
        messages.error(
            request, "Reload the page and try again: the form did not say which version it changes."
        )
        return redirect("markets:detail", code=market.code)
    service = market_activate if activate else market_deactivate
    try:
        service(actor=actor_of(request), market=market, expected_version=version)
    except Conflict as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
        return redirect("markets:detail", code=market.code)
    messages.success(request, f"{market.code} {'reactivated' if activate else 'deactivated'}.")
    return redirect("markets:detail", code=market.code)


def _rights(request: HttpRequest, market: Market) -> dict[str, Any]:
    user = request.user
    return {
        "market": market,
        "can_edit_rules": can(user, Action.EDIT_RULES, market),
        "can_edit_settings": can(user, Action.EDIT_MARKET_SETTINGS, market),
        "can_edit_positions": can(user, Action.EDIT_POSITIONS, market),
        "can_set_binding": can(user, Action.SET_BINDING_RULES, market),
        "can_manage_markets": can(user, Action.MANAGE_MARKETS),
    }


def _market_context(request: HttpRequest, market: Market) -> dict[str, Any]:
    return {
        **_rights(request, market),
        "now": timezone.now(),
        "rules": list(market_rules(market=market)),
        "pins": list(market_pins(market=market)),
        "groups": market_groups(market=market),
    }


@portal_view
@require_GET
def market_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A market's overview: settings, rules and pinned slots, with links to edit and preview."""
    market = market_get(user=request.user, code=code)
    return page(request, "markets/detail.html", _market_context(request, market))


# --- settings --------------------------------------------------------------------------------


def _settings_initial(market: Market) -> dict[str, Any]:
    return {
        "version": market.version,
        "name": market.name,
        "languages": ", ".join(market.languages),
        "timezone": market.timezone,
        "default_visibility": market.default_visibility,
    }


def _changed_fields(submitted: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (field, value stored now) for the fields that differ from what the user submitted."""
    return [
        (name, value)
        for name, value in current.items()
        if name in submitted and name != "version" and submitted[name] != value
    ]


@portal_view
@require_http_methods(["GET", "POST"])
def market_settings(request: HttpRequest, code: str) -> HttpResponse:
    """Edit a market's name, languages, time zone, default visibility and active flag."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_MARKET_SETTINGS)
    context: dict[str, Any] = {
        "market": market,
        "can_manage_markets": can(request.user, Action.MANAGE_MARKETS),
        "needs_approval": approvals_needed(market, settings=True),
    }
    if request.method == "GET":
        context["form"] = MarketSettingsForm(initial=_settings_initial(market))
        return page(request, "markets/settings.html", context)
    form = MarketSettingsForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return page(request, "markets/settings.html", context, status=422)
    data = form.cleaned_data
    if approvals_needed(market, settings=True):
        values = {k: data[k] for k in ("name", "languages", "timezone", "default_visibility", "active")}
        try:
            cr = changes_defer(
                actor=actor_of(request), market=market, operations=[Operation.settings(**values)]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return page(request, "markets/settings.html", context, status=422)
        return deferred(request, cr, "This settings change")
    try:
        market_update(
            actor=actor_of(request),
            market=market,
            name=data["name"],
            languages=data["languages"],
            timezone=data["timezone"],
            default_visibility=data["default_visibility"],
            expected_version=data["version"],
        )
    except Conflict as exc:
        market.refresh_from_db()
        context["form"] = MarketSettingsForm(initial=_settings_initial(market))
        context["conflict"] = exc
        context["conflict_fields"] = _changed_fields(data, exc.current)
        return page(request, "markets/settings.html", context, status=409)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/settings.html", context, status=422)
    messages.success(request, f"Settings of {market.code} saved.")
    return redirect("markets:detail", code=market.code)


# --- rules -----------------------------------------------------------------------------------


def _rule_initial(rule: Rule, tz: str) -> dict[str, Any]:
    return {
        "version": rule.version,
        "action": rule.action,
        "boost": rule.boost or None,
        "match_tags": ", ".join(rule.match_tags),
        "match_content_types": list(rule.match_content_types),
        "match_sources": ", ".join(rule.match_sources),
        "starts_at": utc_to_wall(rule.starts_at, tz),
        "ends_at": utc_to_wall(rule.ends_at, tz),
        "note": rule.note,
        "binding": rule.binding,
    }


def _rule_form(request: HttpRequest, market: Market, *args: Any, **kwargs: Any) -> RuleForm:
    """A rule form in the market's time zone, with the binding checkbox for those who may set it."""
    return RuleForm(
        *args,
        timezone=market.timezone,
        can_set_binding=can(request.user, Action.SET_BINDING_RULES, market),
        **kwargs,
    )


def _rule_page(
    request: HttpRequest, market: Market, form: RuleForm, rule: Rule | None, **extra: Any
) -> HttpResponse:
    status = extra.pop("status", 200)
    context = {
        **_rights(request, market),
        "form": form,
        "rule": rule,
        "needs_approval": approvals_needed(market, rules=True),
        **extra,
    }
    return page(request, "markets/rule_form.html", context, status=status)


@portal_view
@require_http_methods(["GET", "POST"])
@submit_once
def rule_new(request: HttpRequest, code: str) -> HttpResponse:
    """Add a hide or promote rule to the market."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_RULES)
    if request.method == "GET":
        form = _rule_form(request, market, initial={"action": "hide"})
        return _rule_page(request, market, form, None)
    form = _rule_form(request, market, request.POST)
    if not form.is_valid():
        return _rule_page(request, market, form, None, status=422)
    if approvals_needed(market, rules=True):
        try:
            cr = changes_defer(
                actor=actor_of(request),
                market=market,
                operations=[Operation.rule_create(**form.service_kwargs())],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return _rule_page(request, market, form, None, status=422)
        return deferred(request, cr, "This new rule")
    try:
        rule = rule_create(actor=actor_of(request), market=market, **form.service_kwargs())
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _rule_page(request, market, form, None, status=422)
    messages.success(request, f"Rule #{rule.pk} added to {market.code}: {rule.action} {rule.match_summary}.")
    return redirect("markets:detail", code=market.code)


@portal_view
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, code: str, rule_id: int) -> HttpResponse:
    """Change a rule's action, match, boost, window or note."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_RULES)
    rule = get_object_or_404(Rule.objects.select_related("market"), pk=rule_id, market=market)
    if request.method == "GET":
        form = _rule_form(request, market, initial=_rule_initial(rule, market.timezone))
        return _rule_page(request, market, form, rule)
    form = _rule_form(request, market, request.POST, editing=True)
    if not form.is_valid():
        return _rule_page(request, market, form, rule, status=422)
    if approvals_needed(market, rules=True):
        try:
            cr = changes_defer(
                actor=actor_of(request),
                market=market,
                operations=[Operation.rule_update(rule, **form.service_kwargs())],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return _rule_page(request, market, form, rule, status=422)
        return deferred(request, cr, f"This change to rule #{rule.pk}")
    try:
        rule = rule_update(
            actor=actor_of(request),
            rule=rule,
            expected_version=form.cleaned_data.get("version"),
            **form.service_kwargs(),
        )
    except Conflict as exc:
        rule.refresh_from_db()
        fresh = _rule_form(request, market, initial=_rule_initial(rule, market.timezone))
        submitted = {**form.service_kwargs()}
        for name in ("starts_at", "ends_at"):
            value = submitted.get(name)
            submitted[name] = value.isoformat() if value else None
        return _rule_page(
            request,
            market,
            fresh,
            rule,
            status=409,
            conflict=exc,
            conflict_fields=_changed_fields(submitted, exc.current),
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _rule_page(request, market, form, rule, status=422)
    messages.success(request, f"Rule #{rule.pk} in {market.code} saved.")
    return redirect("markets:detail", code=market.code)


@portal_view
@require_http_methods(["GET", "POST"])
def rule_remove(request: HttpRequest, code: str, rule_id: int) -> HttpResponse:
    """Confirm (GET) and delete (POST) a rule."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_RULES)
    rule = get_object_or_404(Rule.objects.select_related("market"), pk=rule_id, market=market)
    if request.method == "GET":
        return page(request, "markets/rule_delete.html", {**_rights(request, market), "rule": rule})
    version = whole_number(request.POST.get("version"))
    if version is None:
        messages.error(
            request, "Reload the rule and try again: the form did not say which version it deletes."
        )
        return redirect("markets:rule_edit", code=market.code, rule_id=rule.pk)
    if approvals_needed(market, rules=True):
        cr = changes_defer(actor=actor_of(request), market=market, operations=[Operation.rule_delete(rule)])
        return deferred(request, cr, f"Deleting rule #{rule.pk}")
    try:
        rule_delete(actor=actor_of(request), rule=rule, expected_version=version)
    except Conflict as exc:
        messages.error(request, f"{exc.message} Nothing was deleted.")
        return redirect("markets:rule_edit", code=market.code, rule_id=rule.pk)
    messages.success(request, f"Rule #{rule_id} deleted from {market.code}.")
    return redirect("markets:detail", code=market.code)


# --- pinned slots ----------------------------------------------------------------------------


@portal_view
@require_POST
def pin_move(request: HttpRequest, code: str, position_id: int) -> HttpResponse:
    """Move a pinned item one slot up or down (swapping with the pin in the way)."""
    market = market_get(user=request.user, code=code, action=Action.EDIT_POSITIONS)
    position = get_object_or_404(Position.objects.select_related("item"), pk=position_id, market=market)
    version = whole_number(request.POST.get("version"))
    direction = request.POST.get("direction", "")
    status = 200
    if approvals_needed(market, positions=2):
        messages.error(
            request,
            f"Position changes in {market.code} need approval: change the pins from the items' pages, "
            "which turns them into a change request.",
        )
        return redirect("markets:detail", code=market.code)
    try:
        moved = pins_reorder(
            actor=actor_of(request),
            market=market,
            position=position,
            direction=direction,
            expected_version=version,
        )
        messages.success(request, f"{moved.item.upstream_id} is now in slot {moved.slot} in {market.code}.")
    except Conflict as exc:
        messages.error(request, f"{exc.message} The list below shows the current slots.")
        status = 409
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        status = 422
    if not is_htmx(request):
        return redirect("markets:detail", code=market.code)
    context = _market_context(request, market)
    return page(request, "markets/_pins.html", context, status=status)


# --- preview ---------------------------------------------------------------------------------


@portal_view
@require_GET
def preview(request: HttpRequest, code: str) -> HttpResponse:
    """What users in this market see at time T: the first N items in resolved order, and why."""
    market = market_get(user=request.user, code=code)
    now = timezone.now()
    data = request.GET.copy()
    # The form always shows the time and size it previews, even when the URL names neither.
    if not data.get("at"):
        data["at"] = f"{utc_to_wall(now, market.timezone):%Y-%m-%dT%H:%M}"
    data.setdefault("limit", "25")
    form = PreviewForm(data)
    at, limit, show_hidden = now, 25, False
    status = 200
    if form.is_valid():
        limit = form.cleaned_data.get("limit") or 25
        show_hidden = bool(form.cleaned_data.get("hidden"))
        if request.GET.get("at"):
            try:
                at = wall_to_utc(form.cleaned_data.get("at"), market.timezone, field="at") or now
            except ValidationError as exc:
                add_service_errors(form, exc)
                status = 422
    else:
        status = 422
    resolved = market_preview(market=market, at=at, limit=limit, include_hidden=show_hidden)
    rows = preview_rows(market=market, resolved=resolved)
    visible = [row for row in rows if row[0].decision.visible]
    hidden = [row for row in rows if not row[0].decision.visible]
    context = {
        **_rights(request, market),
        "form": form,
        "at": at,
        "at_wall": utc_to_wall(at, market.timezone),
        "limit": limit,
        "show_hidden": show_hidden,
        "visible": visible,
        "hidden": hidden,
        "is_now": at is now,
    }
    return page(
        request, "markets/preview.html", context, fragment="markets/_preview_results.html", status=status
    )
