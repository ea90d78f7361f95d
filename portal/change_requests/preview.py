"""The market's preview with and without a change request, through the one resolver.

"With" is computed by making the request's changes through the same services that apply it,
inside a transaction that is always rolled back: what the preview shows is what applying does.
A group request is previewed in one member market at a time (the page offers every member).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from content.selectors import market_preview
from markets.models import Market
from portal.change_requests.models import ChangeRequest
from portal.change_requests.services import run_operations
from portal.errors import Conflict
from positioning.resolver import Resolved

PREVIEW_LIMIT = 30


class _RollBack(Exception):
    pass


@dataclass(frozen=True)
class PreviewChange:
    """One item whose place differs: appears, vanishes or moves (rank 1-based), and why."""

    content_id: str
    change: str  # "appears" | "vanishes" | "moves up" | "moves down"
    rank_without: int | None
    rank_with: int | None
    reason_without: str
    reason_with: str


@dataclass(frozen=True)
class RequestPreview:
    at: datetime
    without: list[Resolved]
    with_request: list[Resolved]
    changes: list[PreviewChange]
    error: str = ""


def _why(entry: Resolved | None) -> str:
    if entry is None:
        return "not in the first places"
    d = entry.decision
    detail = d.reason or d.decided_by
    state = f"{d.state} (slot {d.slot})" if d.slot else d.state
    return f"{state} by {d.decided_by}" + (f": {detail}" if detail and detail != d.decided_by else "")


def _compare(without: list[Resolved], with_request: list[Resolved], limit: int) -> list[PreviewChange]:
    rank_a = {r.candidate.content_id: i + 1 for i, r in enumerate(without[:limit])}
    rank_b = {r.candidate.content_id: i + 1 for i, r in enumerate(with_request[:limit])}
    by_a = {r.candidate.content_id: r for r in without}
    by_b = {r.candidate.content_id: r for r in with_request}
    changes = []
    for cid in dict.fromkeys([*rank_b, *rank_a]):
        a, b = rank_a.get(cid), rank_b.get(cid)
        if a == b:
            continue
        if a is None:
            kind = "appears"
        elif b is None:
            kind = "vanishes"
        else:
            kind = "moves up" if b < a else "moves down"
        changes.append(PreviewChange(cid, kind, a, b, _why(by_a.get(cid)), _why(by_b.get(cid))))
    changes.sort(key=lambda c: (c.rank_with or 10_000, c.rank_without or 10_000))
    return changes


def request_preview(
    request: ChangeRequest, *, at: datetime, limit: int = PREVIEW_LIMIT, member: Market | None = None
) -> RequestPreview:
    """The market at `at` without and with `request` (its changes made and rolled back); for a
    group request, the member market `member`."""
    if request.group_id is not None:
        if member is None:
            raise ValueError("A group request is previewed in one of its member markets.")
        market = Market.objects.get(pk=member.pk)
        return _preview(request, market, at=at, limit=limit)
    market = Market.objects.get(pk=request.market_id or 0)
    return _preview(request, market, at=at, limit=limit)


def _preview(request: ChangeRequest, market: Market, *, at: datetime, limit: int) -> RequestPreview:
    own_market = request.group_id is None
    without = market_preview(market=market, at=at, limit=limit, include_hidden=True)
    with_request: list[Resolved] = []
    error = ""
    try:
        with transaction.atomic():
            if own_market:
                request.market = market
            # No actor: a preview checks no rights and versions (the diff says what is stale).
            run_operations(request, actor=None, check_versions=False)
            market.refresh_from_db()
            with_request = market_preview(market=market, at=at, limit=limit, include_hidden=True)
            raise _RollBack
    except _RollBack:
        pass
    except (Conflict, ValidationError, PermissionDenied) as exc:
        error = (
            str(exc.message) if isinstance(exc, Conflict) else " ".join(getattr(exc, "messages", [str(exc)]))
        )
    market.refresh_from_db()
    if own_market:
        request.market = market
    visible_a = [r for r in without if r.decision.visible]
    visible_b = [r for r in with_request if r.decision.visible]
    hidden_b = {r.candidate.content_id: r for r in with_request if not r.decision.visible}
    changes = _compare(visible_a, visible_b, limit) if not error else []
    # An item that vanishes because the request hides it: say so with the hiding decision.
    changes = [
        PreviewChange(
            c.content_id,
            c.change,
            c.rank_without,
            c.rank_with,
            c.reason_without,
            _why(hidden_b[c.content_id]),
        )
        if c.change == "vanishes" and c.content_id in hidden_b
        else c
        for c in changes
    ]
    return RequestPreview(at=at, without=visible_a, with_request=visible_b, changes=changes, error=error)
