"""The content board, bulk positioning and the item page (server-rendered, HTMX fragments).

Views parse, check access through accounts.access, call one service or selector, and render.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import AccessDenied, Action, can, can_in_group, markets_for, require
from content.board import (
    DEFAULT_PAGE_SIZE,
    MATCH_CAP,
    PAGE_SIZES,
    SEARCH_WINDOWS,
    SORT_LABELS,
    STATE_FILTERS,
    BadCursor,
    board_page,
    board_queryset,
    board_resolve,
    capped_count,
    estimated_total,
    matching_ids,
    sort_key_field,
)
from content.forms import ACTION_LABELS, BoardFilterForm, BulkForm, PositionForm, TagsForm
from content.models import ContentItem, ContentType, Position
from content.selectors import Override, content_facets, content_get, item_matrix, positions_overridden
from content.services import (
    BulkResult,
    PositionChange,
    Refusal,
    group_positions_bulk_set,
    position_set,
    positions_bulk_set,
)
from content.services import item_tags_update as tags_update
from markets.groups.selectors import group_codes_for, group_list
from markets.models import Market, MarketGroup
from markets.selectors import market_get, market_list
from markets.vocabulary import known_tags
from portal.audit.selectors import item_history
from portal.change_requests.pages import deferred
from portal.change_requests.services import (
    Operation,
    approvals_needed,
    changes_defer,
    group_approvals_needed,
    group_changes_defer,
)
from portal.errors import Conflict
from portal.forms import add_service_errors, utc_to_wall
from portal.pages import actor_of, is_htmx, page, portal_view

BOARD_MARKET_SESSION_KEY = "board_market"
# What the board reads of each of up to 200 markets: the choices, the bulk boxes, access checks
# and the chosen market's resolving (full rows cost ≈ 4 ms a page view in model, JSON and date
# parsing). A deferred field read on the page would cost a query, which the query budget tests catch.
BOARD_MARKET_FIELDS = ("id", "code", "name", "timezone", "active", "default_visibility")


def _board_markets(user: Any) -> list[Market]:
    return list(market_list(user=user).only(*BOARD_MARKET_FIELDS))


def _board_market(request: HttpRequest, markets: list[Market]) -> Market | None:
    """Return the market whose states the board shows: asked for, last used, or the first."""
    by_code = {m.code: m for m in markets}
    asked = (request.GET.get("market") or "").strip().upper()
    if asked:
        if asked in by_code:
            # Written only when it changes: a session write costs three queries per page view.
            if request.session.get(BOARD_MARKET_SESSION_KEY) != asked:
                request.session[BOARD_MARKET_SESSION_KEY] = asked
            return by_code[asked]
        if Market.objects.filter(code=asked).exists():
            raise AccessDenied(Action.VIEW_MARKET, asked)
    remembered = request.session.get(BOARD_MARKET_SESSION_KEY)
    if remembered in by_code:
        return by_code[remembered]
    return markets[0] if markets else None


def _board_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    require(user, Action.VIEW_CONTENT)
    markets = _board_markets(user)
    market = _board_market(request, markets)
    params = request.GET.copy()
    if market is not None:
        params["market"] = market.code
    params.setdefault("sort", "newest")
    params.setdefault("per_page", str(DEFAULT_PAGE_SIZE))
    form = BoardFilterForm(params, markets=markets)
    board = form.board_filter(market)
    at = timezone.now()
    queryset = board_queryset(board, at=at)
    try:
        result = board_page(
            queryset,
            sort=board.sort,
            size=board.page_size,
            after=request.GET.get("after", ""),
            before=request.GET.get("before", ""),
            windows=SEARCH_WINDOWS if board.query.strip() else (),
            key_field=sort_key_field(board),
        )
    except BadCursor:
        messages.warning(request, "That page link is no longer valid; showing the first page.")
        result = board_page(queryset, sort=board.sort, size=board.page_size, key_field=sort_key_field(board))
    if market is not None:
        board_resolve(result, market=market, at=at)
    filter_params = params.copy()
    for key in ("after", "before"):
        filter_params.pop(key, None)
    editable = [m for m in markets if can(user, Action.EDIT_POSITIONS, m)]
    data = form.cleaned_data if form.is_valid() else {}
    # A misspelt tag matches nothing; say which tag does not exist rather than "no matches".
    unknown_tags = sorted(set(board.tags) - known_tags(board.tags)) if board.tags else []
    return {
        "unknown_tags": unknown_tags,
        # Choice lists are joined here, not looped in the template: with 200 markets and
        # hundreds of suggestions, template loops and widget templates cost more than the queries.
        "html": {
            "market_options": _options(
                [(m.code, f"{m.code} — {m.name}") for m in markets], [market.code if market else ""]
            ),
            "state_options": _options([("", "Any"), *STATE_FILTERS.items()], [board.state]),
            "sort_options": _options(list(SORT_LABELS.items()), [board.sort]),
            "size_options": _options([(str(n), str(n)) for n in PAGE_SIZES], [str(board.page_size)]),
            "type_boxes": format_html_join(
                "",
                '<label><input type="checkbox" name="type" value="{}"{}> {}</label>',
                (
                    (v, " checked" if v in board.content_types else "", label)
                    for v, label in ContentType.choices
                ),
            ),
            "datalists": _datalists(content_facets()),
            "bulk_markets": _market_boxes(editable, market),
        },
        "editable_groups": group_codes_for(user=user, action=Action.EDIT_POSITIONS),
        "values": {
            "q": data.get("q") or "",
            "source": data.get("source") or "",
            "tag": data.get("tag") or "",
            "language": data.get("language") or "",
            "published_from": data.get("published_from") or "",
            "published_to": data.get("published_to") or "",
        },
        "form": form,
        "board": board,
        "page": result,
        "rows": [(item, result.states.get(item.pk)) for item in result.items],
        "market": market,
        "markets": markets,
        "editable_markets": editable,
        "filter_query": filter_params.urlencode(),
        "estimated_total": None if board.narrows else estimated_total(),
        "match_cap": MATCH_CAP,
        "action_labels": ACTION_LABELS,
        "state_labels": STATE_FILTERS,
        "now": at,
    }


def _options(pairs: list[tuple[str, str]], selected: list[str]) -> SafeString:
    # The standard library's escape, not format_html: 400 markets' worth of options per page.
    return SafeString(
        "".join(
            f'<option value="{escape(v)}"{" selected" if v in selected else ""}>{escape(label)}</option>'
            for v, label in pairs
        )
    )


def _datalists(facets: dict[str, list[str]]) -> SafeString:
    return SafeString(
        "".join(
            f'<datalist id="facet-{escape(name)}">'
            + "".join(f'<option value="{escape(v)}">' for v in values)
            + "</datalist>"
            for name, values in facets.items()
        )
    )


def _market_boxes(markets: list[Market], chosen: Market | None) -> SafeString:
    return SafeString(
        "".join(
            f'<li><label title="{escape(m.name)} ({escape(m.timezone)})"><input type="checkbox" '
            f'name="markets" value="{escape(m.code)}"{" checked" if chosen and m.pk == chosen.pk else ""}> '
            f"{escape(m.code)}</label></li>"
            for m in markets
        )
    )


@portal_view
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """The content board: search, filters, each item's state in the chosen market and why."""
    context = _board_context(request)
    return page(request, "content/board.html", context, fragment="content/_board_results.html")


@portal_view
@require_GET
def board_count(request: HttpRequest) -> HttpResponse:
    """Count the items matching the board's filters, stopping at the bulk cap."""
    require(request.user, Action.VIEW_CONTENT)
    markets = _board_markets(request.user)
    market = _board_market(request, markets)
    form = BoardFilterForm(request.GET, markets=markets)
    count = capped_count(board_queryset(form.board_filter(market), at=timezone.now()), cap=MATCH_CAP)
    return page(
        request,
        "content/_board_count.html",
        {"count": count, "capped": count > MATCH_CAP, "match_cap": MATCH_CAP},
    )


@dataclass
class RefusalGroup:
    market_code: str
    reason: str
    count: int = 0
    examples: list[str] = field(default_factory=list)


def _group_refusals(result: BulkResult) -> list[RefusalGroup]:
    groups: OrderedDict[tuple[str, str], RefusalGroup] = OrderedDict()
    for refusal in result.refused:
        key = (refusal.market_code, refusal.reason)
        group = groups.setdefault(key, RefusalGroup(refusal.market_code, refusal.reason))
        group.count += refusal.count
        if refusal.content_id and len(group.examples) < 5:
            group.examples.append(refusal.content_id)
    return list(groups.values())


def _bulk_item_ids(request: HttpRequest, form: BulkForm) -> list[int]:
    """Return the selected ids, or those matching the posted filter. Raises ValidationError."""
    if not form.cleaned_data.get("all_matching"):
        return list(form.cleaned_data["item"])
    params = QueryDict(form.cleaned_data.get("filter") or "")
    markets = list(market_list(user=request.user))
    by_code = {m.code: m for m in markets}
    market = by_code.get((params.get("market") or "").upper())
    filter_form = BoardFilterForm(params, markets=markets)
    ids = matching_ids(board_queryset(filter_form.board_filter(market), at=timezone.now()), cap=MATCH_CAP)
    if len(ids) > MATCH_CAP:
        raise ValidationError(
            f"More than {MATCH_CAP:,} items match the filter. Narrow it down (for example by "
            f"type or published date) and try again: nothing was changed."
        )
    if not ids:
        raise ValidationError("No item matches the filter any more: nothing was changed.")
    return ids


def _overrides(
    request: HttpRequest, by_change: dict[PositionChange, list[Market]], item_ids: list[int]
) -> list[Override]:
    """The positions just set (in markets the user may edit) that rights or a binding rule
    keep hidden, decided when each change's window opens (now at the earliest)."""
    now = timezone.now()
    found: list[Override] = []
    for change, group in by_change.items():
        allowed = [m for m in group if can(request.user, Action.EDIT_POSITIONS, m)]
        at = max(now, change.starts_at) if change.starts_at else now
        found += positions_overridden(markets=allowed, item_ids=item_ids, state=change.state, at=at)
    return found


@portal_view
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Apply one position change to the selected items in the chosen markets (one transaction)."""
    user = request.user
    require(user, Action.EDIT_POSITIONS)
    editable = list(markets_for(user, Action.EDIT_POSITIONS).order_by("code"))
    # Every market the user can see is accepted here so that the service, not the form, refuses
    # the ones they may not edit — and the summary says so.
    visible = list(market_list(user=user))
    groups = list(group_list(user=user)) if request.POST.getlist("groups") else []
    form = BulkForm(request.POST, markets=visible, groups=groups)
    context: dict[str, Any] = {"form": form, "editable_markets": editable, "action_labels": ACTION_LABELS}
    if not form.is_valid():
        return page(
            request, "content/bulk_summary.html", context, fragment="content/_bulk_summary.html", status=422
        )
    try:
        item_ids = _bulk_item_ids(request, form)
        # Windows are entered in each market's own time, so markets in different zones may need
        # different UTC windows: one service call per distinct change (one when there is no window).
        by_change: dict[PositionChange, list[Market]] = defaultdict(list)
        for market in form.selected_markets():
            by_change[form.change_for(market.timezone)].append(market)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return page(
            request, "content/bulk_summary.html", context, fragment="content/_bulk_summary.html", status=422
        )
    total = BulkResult()
    deferred_requests: list[Any] = []
    # One bulk action is one batch in the audit log, however many calls it takes: it is shown,
    # and reverted, as one change.
    batch = uuid.uuid4()
    applied: dict[PositionChange, list[Market]] = {}
    applied_groups: list[tuple[MarketGroup, PositionChange]] = []
    with transaction.atomic():
        for change, group in by_change.items():
            # Markets whose policy asks for approval of this change get a change request instead.
            direct = [m for m in group if not approvals_needed(m, positions=len(item_ids), bulk=True)]
            for market in group:
                if market not in direct and can(user, Action.EDIT_POSITIONS, market):
                    deferred_requests.append(_bulk_request(request, market, item_ids, change))
                elif market not in direct:
                    direct.append(market)  # the service refuses it, and the summary says so
            if not direct:
                continue
            group = direct
            applied[change] = direct
            part = positions_bulk_set(
                actor=actor_of(request), markets=group, item_ids=item_ids, change=change, batch=batch
            )
            total.changed += part.changed
            total.unchanged += part.unchanged
            total.refused.extend(part.refused)
            total.batch = part.batch or total.batch
        for target in form.selected_groups():
            # One row per item for the whole group. Groups have no time zone: windows are UTC.
            if not can_in_group(user, Action.EDIT_POSITIONS, target):
                total.refused.append(
                    Refusal(
                        market_code=target.code,
                        reason=f"You may not edit positions in group {target.code} (every member market).",
                        count=len(item_ids),
                    )
                )
                continue
            group_change = form.change_for("UTC")
            if group_approvals_needed(target, positions=len(item_ids), bulk=True):
                # The group's policy or a member's asks for review: a group change request instead.
                items = ContentItem.objects.in_bulk(item_ids)
                deferred_requests.append(
                    group_changes_defer(
                        actor=actor_of(request),
                        group=target,
                        operations=[
                            Operation.position(items[pk], group_change) for pk in item_ids if pk in items
                        ],
                    )
                )
                continue
            part = group_positions_bulk_set(
                actor=actor_of(request), group=target, item_ids=item_ids, change=group_change, batch=batch
            )
            applied_groups.append((target, group_change))
            total.changed += part.changed
            total.unchanged += part.unchanged
            total.refused.extend(part.refused)
            total.batch = part.batch or total.batch
    overrides = _overrides(request, applied, item_ids)
    for target, group_change in applied_groups:
        # A group's position is overridden in a member as a market's is: by rights or a binding rule.
        start = group_change.starts_at
        overrides += positions_overridden(
            markets=list(Market.objects.filter(group_links__group=target).order_by("code")),
            item_ids=item_ids,
            state=group_change.state,
            at=max(timezone.now(), start) if start else timezone.now(),
        )
    context["audit_query"] = urlencode([("batch", total.batch)]) if total.batch else ""
    context["deferred_requests"] = deferred_requests
    context.update(
        {
            "result": total,
            "overrides": overrides,
            "overridden_count": sum(o.count for o in overrides),
            "refusals": _group_refusals(total),
            "item_count": len(item_ids),
            "market_codes": [m.code for m in form.selected_markets()]
            + [f"group {g.code}" for g in form.selected_groups()],
            "action_label": ACTION_LABELS[form.cleaned_data["action"]],
        }
    )
    response = page(request, "content/bulk_summary.html", context, fragment="content/_bulk_summary.html")
    if total.changed:
        response["HX-Trigger"] = "board-changed"
    return response


def _bulk_request(request: HttpRequest, market: Market, item_ids: list[int], change: PositionChange) -> Any:
    """Put a bulk change to `market` into the user's draft change request there (a bulk pin takes
    consecutive slots, as the direct bulk write would)."""
    items = ContentItem.objects.in_bulk(item_ids)
    operations = []
    slot = change.slot
    for item_id in item_ids:
        item = items.get(item_id)
        if item is None:
            continue
        one = change
        if change.slot is not None and slot is not None:
            one = PositionChange(**{**change.values(), "slot": slot})
            slot += 1
        operations.append(Operation.position(item, one))
    return changes_defer(actor=actor_of(request), market=market, operations=operations)


# --- the item page ---------------------------------------------------------------------------


def _history_context(request: HttpRequest, item: ContentItem) -> dict[str, Any]:
    markets = list(market_list(user=request.user))
    return {
        "history": item_history(user=request.user, item=item, markets=markets),
        "markets_by_code": {m.code: m for m in markets},
    }


def _item_context(request: HttpRequest, item: ContentItem) -> dict[str, Any]:
    user = request.user
    markets = list(market_list(user=user))
    cells = item_matrix(markets=markets, item=item, at=timezone.now())
    return {
        "item": item,
        "cells": cells,
        "editable_codes": {m.code for m in markets if can(user, Action.EDIT_POSITIONS, m)},
        "can_edit_tags": can(user, Action.EDIT_TAGS),
        "history": item_history(user=user, item=item, markets=markets),
        "markets_by_code": {m.code: m for m in markets},
        "tags_form": TagsForm(),
        "facets": content_facets(),
    }


@portal_view
@require_GET
def detail(request: HttpRequest, upstream_id: str) -> HttpResponse:
    """One item: metadata, tags, its state in every market the user can see, and its history."""
    require(request.user, Action.VIEW_CONTENT)
    item = content_get(upstream_id=upstream_id)
    return page(request, "content/detail.html", _item_context(request, item))


@portal_view
@require_POST
def item_tags(request: HttpRequest, upstream_id: str) -> HttpResponse:
    """Add or remove editors' tags on an item."""
    require(request.user, Action.EDIT_TAGS)
    item = content_get(upstream_id=upstream_id)
    form = TagsForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            item = tags_update(
                actor=actor_of(request),
                item=item,
                add=[t.strip() for t in form.cleaned_data["add"].split(",")],
                remove=[t.strip() for t in form.cleaned_data["remove"].split(",")],
            )
            item = content_get(upstream_id=upstream_id)
            messages.success(request, "Tags saved.")
            form = TagsForm()
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        status = 422
    if not is_htmx(request):
        if status == 200:
            return redirect("content:detail", upstream_id=item.upstream_id)
        context = _item_context(request, item)
        context["tags_form"] = form
        return page(request, "content/detail.html", context, status=status)
    context = {"item": item, "tags_form": form, "can_edit_tags": True, "facets": content_facets()}
    return page(request, "content/_tags.html", context, status=status)


def _position_initial(position: Position | None, market: Market) -> dict[str, Any]:
    if position is None:
        return {"version": 0, "state": "hidden"}
    return {
        "version": position.version,
        "state": position.state,
        "boost": position.boost or None,
        "slot": position.slot,
        "starts_at": utc_to_wall(position.starts_at, market.timezone),
        "ends_at": utc_to_wall(position.ends_at, market.timezone),
        "reason": position.reason,
    }


def _cell_response(request: HttpRequest, item: ContentItem, market: Market, **extra: Any) -> HttpResponse:
    cell = item_matrix(markets=[market], item=item, at=timezone.now())[0]
    context = {"item": item, "cell": cell, "editable_codes": {market.code}, **extra}
    if extra.get("saved"):
        # The item's history below the matrix gains the change: sent along, out of band.
        context |= _history_context(request, item)
    return page(request, "content/_matrix_row.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def position_edit(request: HttpRequest, upstream_id: str, market_code: str) -> HttpResponse:
    """Change one cell of the item's market matrix: GET shows the form, POST saves it."""
    user = request.user
    item = content_get(upstream_id=upstream_id)
    market = market_get(user=user, code=market_code, action=Action.EDIT_POSITIONS)
    position = Position.objects.filter(market=market, item=item).first()
    if request.method == "GET":
        if request.GET.get("row"):
            return _cell_response(request, item, market)
        form = PositionForm(initial=_position_initial(position, market), market=market, position=position)
        return _position_form(request, item, market, form)
    form = PositionForm(request.POST, market=market, position=position)
    if not form.is_valid() or form.change is None:
        return _position_form(request, item, market, form, status=422)
    if approvals_needed(market, positions=1):
        try:
            cr = changes_defer(
                actor=actor_of(request), market=market, operations=[Operation.position(item, form.change)]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return _position_form(request, item, market, form, status=422)
        return deferred(request, cr, f"The change to {item.upstream_id}")
    try:
        saved = position_set(
            actor=actor_of(request),
            market=market,
            item=item,
            change=form.change,
            expected_version=form.cleaned_data["version"],
        )
    except Conflict as exc:
        current = Position.objects.filter(market=market, item=item).first()
        fresh = PositionForm(initial=_position_initial(current, market), market=market, position=current)
        return _position_form(request, item, market, fresh, status=409, conflict=exc)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _position_form(request, item, market, form, status=422)
    label = saved.get_state_display().lower() if saved.state != "default" else "reset to rules and default"
    messages.success(request, f"{item.upstream_id} in {market.code}: {label}.")
    if is_htmx(request):
        return _cell_response(request, item, market, saved=True)
    return redirect(reverse("content:detail", args=[item.upstream_id]) + f"#cell-{market.code}")


def _position_form(
    request: HttpRequest,
    item: ContentItem,
    market: Market,
    form: PositionForm,
    *,
    status: int = 200,
    conflict: Conflict | None = None,
) -> HttpResponse:
    context = {
        "item": item,
        "market": market,
        "form": form,
        "conflict": conflict,
        "conflict_fields": _conflict_changes(conflict) if conflict else [],
        "overridden_by": _overridden_by(item, market),
        "needs_approval": approvals_needed(market, positions=1),
    }
    return page(
        request, "content/position_form.html", context, fragment="content/_position_form.html", status=status
    )


def _overridden_by(item: ContentItem, market: Market) -> str:
    """The item's rights or binding rule that hides it in `market` now, whatever its position, or ""."""
    decision = item_matrix(markets=[market], item=item, at=timezone.now())[0].decision
    return decision.reason if decision.decided_by == "rights" or decision.binding else ""


def _conflict_changes(conflict: Conflict) -> list[tuple[str, Any]]:
    """Return (field, current value) pairs of what is stored now, to say what changed meanwhile."""
    current = conflict.current or {}
    return [(k, v) for k, v in current.items() if k != "version" and v not in (None, "", 0)]
