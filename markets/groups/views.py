"""Group pages: the groups list, a new group, and a group's page (members, rules, positions and
a preview per member market); settings, members and rules forms.

Every view checks the user's right through accounts.access (via the group selectors) first.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action, can, can_in_group, require
from content.models import ContentItem, PositionState
from content.selectors import group_position_list, market_preview
from content.services import PositionChange, group_position_set
from markets.groups.forms import GroupForm, GroupMembersForm, GroupRuleForm
from markets.groups.selectors import group_get, group_list, group_rules
from markets.groups.services import (
    group_create,
    group_members_set,
    group_rule_create,
    group_rule_delete,
    group_rule_update,
    group_update,
)
from markets.models import GroupRule, MarketGroup
from portal.bounds import whole_number
from portal.change_requests.pages import deferred
from portal.change_requests.services import (
    Operation,
    group_approvals_needed,
    group_changes_defer,
    group_need,
)
from portal.errors import Conflict
from portal.forms import add_service_errors, utc_to_wall
from portal.pages import actor_of, page, portal_view
from portal.submit_once import submit_once

PREVIEW_ITEMS = 10


def _group_or_404(request: HttpRequest, code: str, action: Action = Action.VIEW_MARKET) -> MarketGroup:
    try:
        return group_get(user=request.user, code=code, action=action)
    except MarketGroup.DoesNotExist:
        raise Http404(f"There is no group {code}.") from None


def _rights(request: HttpRequest, group: MarketGroup) -> dict[str, Any]:
    user = request.user
    return {
        "group": group,
        "members": [link.market for link in group.member_links.all()],
        "can_manage": can(user, Action.MANAGE_MARKETS),
        "can_edit_rules": can_in_group(user, Action.EDIT_RULES, group),
        "can_edit_positions": can_in_group(user, Action.EDIT_POSITIONS, group),
        "can_edit_policy": can_in_group(user, Action.EDIT_MARKET_SETTINGS, group),
    }


@portal_view
@require_GET
def group_index(request: HttpRequest) -> HttpResponse:
    """The market groups the user sees, with members and priority."""
    require(request.user, Action.VIEW_MARKET)
    groups = list(group_list(user=request.user))
    return page(
        request,
        "markets/groups/list.html",
        {"groups": groups, "can_manage": can(request.user, Action.MANAGE_MARKETS)},
    )


@portal_view
@require_http_methods(["GET", "POST"])
@submit_once
def group_new(request: HttpRequest) -> HttpResponse:
    """Create a market group (admins)."""
    require(request.user, Action.MANAGE_MARKETS)
    if request.method == "GET":
        return page(request, "markets/groups/form.html", {"form": GroupForm()})
    form = GroupForm(request.POST)
    if not form.is_valid():
        return page(request, "markets/groups/form.html", {"form": form}, status=422)
    data = form.cleaned_data
    try:
        group = group_create(
            actor=actor_of(request),
            code=data["code"],
            name=data["name"],
            description=data.get("description") or "",
            priority=data["priority"],
            members=list(data.get("members") or []),
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/groups/form.html", {"form": form}, status=422)
    messages.success(request, f"Group {group.code} created.")
    return redirect("groups:detail", code=group.code)


@portal_view
@require_GET
def group_detail(request: HttpRequest, code: str) -> HttpResponse:
    """A group: members, rules, positions and what one member market shows (the one resolver)."""
    group = _group_or_404(request, code)
    context = _rights(request, group)
    members = context["members"]
    wanted = (request.GET.get("preview") or "").strip().upper()
    shown = next((m for m in members if m.code == wanted), members[0] if members else None)
    preview = market_preview(market=shown, at=timezone.now(), limit=PREVIEW_ITEMS) if shown else []
    context.update(
        {
            "now": timezone.now(),
            "rules": list(group_rules(group=group)),
            "positions": group_position_list(group=group),
            "preview_market": shown,
            "preview": preview,
            "members_form": GroupMembersForm(initial={"version": group.version}),
            "rules_need": group_need(group, rules=True),
            "positions_need": group_need(group, positions=1),
        }
    )
    return page(request, "markets/groups/detail.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def group_settings(request: HttpRequest, code: str) -> HttpResponse:
    """Rename, describe, reprioritise, retire or reactivate a group (admins)."""
    group = _group_or_404(request, code, Action.MANAGE_MARKETS)
    context = _rights(request, group)
    initial = {
        "name": group.name,
        "priority": group.priority,
        "description": group.description,
        "active": group.active,
        "version": group.version,
    }
    if request.method == "GET":
        context["form"] = GroupForm(initial=initial, editing=True)
        return page(request, "markets/groups/form.html", context)
    form = GroupForm(request.POST, editing=True)
    context["form"] = form
    if not form.is_valid():
        return page(request, "markets/groups/form.html", context, status=422)
    data = form.cleaned_data
    try:
        group_update(
            actor=actor_of(request),
            group=group,
            name=data["name"],
            description=data.get("description") or "",
            priority=data["priority"],
            active=bool(data.get("active")),
            expected_version=data.get("version"),
        )
    except Conflict as exc:
        messages.error(request, f"{exc.message} Nothing was saved.")
        return redirect("groups:settings", code=group.code)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/groups/form.html", context, status=422)
    messages.success(request, f"Group {group.code} saved.")
    return redirect("groups:detail", code=group.code)


@portal_view
@require_POST
def group_members(request: HttpRequest, code: str) -> HttpResponse:
    """Add and remove member markets (admins); each change is audited ("DE joined DACH")."""
    group = _group_or_404(request, code, Action.MANAGE_MARKETS)
    form = GroupMembersForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose known markets to add or remove, and reload the page if it is old.")
        return redirect("groups:detail", code=group.code)
    try:
        joined, left = group_members_set(
            actor=actor_of(request),
            group=group,
            add=list(form.cleaned_data.get("add") or []),
            remove=list(form.cleaned_data.get("remove") or []),
            expected_version=form.cleaned_data["version"],
        )
    except (Conflict, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
        return redirect("groups:detail", code=group.code)
    changes = [f"{c} joined {group.code}" for c in joined] + [f"{c} left {group.code}" for c in left]
    messages.success(request, "; ".join(changes) + "." if changes else "Nothing changed.")
    return redirect("groups:detail", code=group.code)


@portal_view
@require_http_methods(["GET", "POST"])
@submit_once
def group_rule_new(request: HttpRequest, code: str) -> HttpResponse:
    """Add a hide or promote rule to a group (market managers of every member, or admins)."""
    group = _group_or_404(request, code, Action.EDIT_RULES)
    context = {**_rights(request, group), "needs_approval": group_need(group, rules=True)}
    if request.method == "GET":
        context["form"] = GroupRuleForm(initial={"action": "hide"})
        return page(request, "markets/groups/rule_form.html", context)
    form = GroupRuleForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return page(request, "markets/groups/rule_form.html", context, status=422)
    if group_approvals_needed(group, rules=True):
        try:
            cr = group_changes_defer(
                actor=actor_of(request),
                group=group,
                operations=[Operation.rule_create(**form.service_kwargs())],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return page(request, "markets/groups/rule_form.html", context, status=422)
        return deferred(request, cr, "This new rule")
    try:
        rule = group_rule_create(actor=actor_of(request), group=group, **form.service_kwargs())
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/groups/rule_form.html", context, status=422)
    messages.success(request, f"Rule #{rule.pk} added to {group.code}: {rule.action} {rule.match_summary}.")
    return redirect("groups:detail", code=group.code)


def _rule_initial(rule: GroupRule) -> dict[str, Any]:
    return {
        "version": rule.version,
        "action": rule.action,
        "boost": rule.boost or None,
        "binding": rule.binding,
        "match_tags": ", ".join(rule.match_tags),
        "match_content_types": list(rule.match_content_types),
        "match_sources": ", ".join(rule.match_sources),
        "starts_at": utc_to_wall(rule.starts_at, "UTC"),
        "ends_at": utc_to_wall(rule.ends_at, "UTC"),
        "note": rule.note,
    }


@portal_view
@require_http_methods(["GET", "POST"])
def group_rule_edit(request: HttpRequest, code: str, rule_id: int) -> HttpResponse:
    """Change a group rule's action, binding, match, boost, window or note."""
    group = _group_or_404(request, code, Action.EDIT_RULES)
    rule = get_object_or_404(GroupRule.objects.select_related("group"), pk=rule_id, group=group)
    context = {**_rights(request, group), "rule": rule, "needs_approval": group_need(group, rules=True)}
    if request.method == "GET":
        context["form"] = GroupRuleForm(initial=_rule_initial(rule))
        return page(request, "markets/groups/rule_form.html", context)
    form = GroupRuleForm(request.POST, editing=True)
    context["form"] = form
    if not form.is_valid():
        return page(request, "markets/groups/rule_form.html", context, status=422)
    if group_approvals_needed(group, rules=True):
        try:
            cr = group_changes_defer(
                actor=actor_of(request),
                group=group,
                operations=[
                    Operation.rule_update(
                        rule, expected_version=form.cleaned_data.get("version"), **form.service_kwargs()
                    )
                ],
            )
        except Conflict as exc:
            rule.refresh_from_db()
            context["form"] = GroupRuleForm(initial=_rule_initial(rule))
            context["conflict"] = exc
            return page(request, "markets/groups/rule_form.html", context, status=409)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return page(request, "markets/groups/rule_form.html", context, status=422)
        return deferred(request, cr, f"This change to rule #{rule.pk}")
    try:
        group_rule_update(
            actor=actor_of(request),
            rule=rule,
            expected_version=form.cleaned_data.get("version"),
            **form.service_kwargs(),
        )
    except Conflict as exc:
        rule.refresh_from_db()
        context["form"] = GroupRuleForm(initial=_rule_initial(rule))
        context["conflict"] = exc
        return page(request, "markets/groups/rule_form.html", context, status=409)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(request, "markets/groups/rule_form.html", context, status=422)
    messages.success(request, f"Rule #{rule.pk} in {group.code} saved.")
    return redirect("groups:detail", code=group.code)


@portal_view
@require_http_methods(["GET", "POST"])
def group_rule_remove(request: HttpRequest, code: str, rule_id: int) -> HttpResponse:
    """Confirm (GET) and delete (POST) a group rule."""
    group = _group_or_404(request, code, Action.EDIT_RULES)
    rule = get_object_or_404(GroupRule.objects.select_related("group"), pk=rule_id, group=group)
    if request.method == "GET":
        return page(request, "markets/groups/rule_delete.html", {**_rights(request, group), "rule": rule})
    version = whole_number(request.POST.get("version"))
    if group_approvals_needed(group, rules=True):
        try:
            cr = group_changes_defer(
                actor=actor_of(request),
                group=group,
                operations=[Operation.rule_delete(rule, expected_version=version)],
            )
        except (Conflict, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
            return redirect("groups:detail", code=group.code)
        return deferred(request, cr, f"Deleting rule #{rule.pk}")
    try:
        group_rule_delete(actor=actor_of(request), rule=rule, expected_version=version)
    except Conflict as exc:
        messages.error(request, f"{exc.message} Nothing was deleted.")
        return redirect("groups:detail", code=group.code)
    messages.success(request, f"Rule #{rule_id} deleted from {group.code}.")
    return redirect("groups:detail", code=group.code)


@portal_view
@require_POST
def group_position_reset(request: HttpRequest, code: str, item_id: int) -> HttpResponse:
    """Return an item to the rules and defaults in every member (the group's row is kept)."""
    group = _group_or_404(request, code, Action.EDIT_POSITIONS)
    item = get_object_or_404(ContentItem, pk=item_id)
    if group_approvals_needed(group, positions=1):
        try:
            cr = group_changes_defer(
                actor=actor_of(request),
                group=group,
                operations=[
                    Operation.position(
                        item,
                        PositionChange(state=PositionState.DEFAULT),
                        expected_version=whole_number(request.POST.get("version")),
                    )
                ],
            )
        except (Conflict, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
            return redirect("groups:detail", code=group.code)
        return deferred(request, cr, f"Resetting {item.upstream_id}")
    try:
        group_position_set(
            actor=actor_of(request),
            group=group,
            item=item,
            change=PositionChange(state=PositionState.DEFAULT),
            expected_version=whole_number(request.POST.get("version")),
        )
    except Conflict as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
        return redirect("groups:detail", code=group.code)
    messages.success(request, f"{item.upstream_id} is back to the rules and defaults in group {group.code}.")
    return redirect("groups:detail", code=group.code)
