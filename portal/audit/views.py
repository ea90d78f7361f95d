"""The audit log page and the audit reads it (and the item page) need.

Scope: a user reads the entries of the markets they may view; entries without a market are
content and tag changes (anyone with the audit log) or account-level records (admins only).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts.access import Action, require
from markets.models import Market
from markets.selectors import market_list
from portal.audit.models import AuditEntry
from portal.audit.revert.selectors import REVERTABLE
from portal.audit.selectors import AuditFilter, audit_search
from portal.bounds import datetime_range_error
from portal.forms import BoundedDateField
from portal.pages import page, portal_view

PAGE_SIZE = 50
OBJECT_TYPES = [
    ("", "Any"),
    ("content", "Content item"),
    ("position", "Position"),
    ("market", "Market"),
    ("rule", "Rule"),
    ("tag", "Tag"),
]
KNOWN_ACTIONS = [
    "position.set",
    "position.reset",
    "rule.create",
    "rule.update",
    "rule.delete",
    "rule.binding_set",
    "rule.binding_clear",
    "market.create",
    "market.update",
    "content.create",
    "content.update",
    "content.tags",
    "tag.create",
]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _encode(entry: AuditEntry) -> str:
    raw = json.dumps([entry.created_at.isoformat(), entry.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int] | None:
    try:
        stamp, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        when, pk = datetime.fromisoformat(stamp), int(pk)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        return None
    # A forged cursor must not reach the database with an id past bigint or a time past year 9999.
    if not 0 <= pk < 2**63 or datetime_range_error(when):
        return None
    return when, pk


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label="User")
    market = forms.ChoiceField(required=False, label="Market")
    object_type = forms.ChoiceField(required=False, choices=OBJECT_TYPES, label="Object type")
    object_id = forms.CharField(required=False, max_length=200, label="Object id")
    action = forms.CharField(
        required=False,
        max_length=64,
        label="Action",
        widget=forms.TextInput(attrs={"list": "audit-actions", "placeholder": "e.g. position.set"}),
    )
    since = BoundedDateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = BoundedDateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, markets: list[Market], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.markets = {m.code: m for m in markets}
        self.fields["market"].choices = [("", "Any"), *((m.code, m.code) for m in markets)]  # type: ignore[attr-defined]  # Field stubs lack .choices
        # One bulk change may span several batches (one per time zone), hence a list.
        raw = self.data.getlist("batch") if hasattr(self.data, "getlist") else []
        self.batches = [b for b in raw if _is_uuid(b)]

    def clean(self) -> dict[str, Any]:
        super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and until < since:
            self.add_error("until", "“Until” is before “From”: no change can match. Swap the dates.")
        return self.cleaned_data

    def audit_filter(self) -> AuditFilter:
        """Return the parsed filter; dates are whole days in the chosen market's zone (else UTC)."""
        data = self.cleaned_data if self.is_valid() else {}
        market = self.markets.get(data.get("market") or "")
        zone = ZoneInfo(market.timezone if market is not None else "UTC")

        def day_start(day: date | None, shift: int = 0) -> datetime | None:
            if day is None:
                return None
            return datetime.combine(day + timedelta(days=shift), time.min, tzinfo=zone).astimezone(UTC)

        return AuditFilter(
            actor=(data.get("user") or "").strip(),
            market=market,
            object_type=data.get("object_type") or "",
            object_id=(data.get("object_id") or "").strip(),
            action=(data.get("action") or "").strip(),
            since=day_start(data.get("since")),
            until=day_start(data.get("until"), 1),
            batches=tuple(self.batches),
        )


@portal_view
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every change the user may read, filterable, newest first, with before/after."""
    user = request.user
    require(user, Action.VIEW_AUDIT)
    markets = list(market_list(user=user))
    form = AuditFilterForm(request.GET, markets=markets)
    asked = (request.GET.get("market") or "").strip().upper()
    if asked and asked not in form.markets and Market.objects.filter(code=asked).exists():
        require(user, Action.VIEW_MARKET, Market.objects.get(code=asked))
    where = form.audit_filter()
    entries = audit_search(user=user, markets=markets, where=where)
    cursor = _decode(request.GET.get("after", "")) if request.GET.get("after") else None
    if cursor is not None:
        stamp, pk = cursor
        entries = entries.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    # Filters that cannot match say so (under the field) instead of listing everything.
    entries = entries.annotate(was_reverted=Exists(AuditEntry.objects.filter(reverts=OuterRef("pk"))))
    rows = list(entries[: PAGE_SIZE + 1]) if form.is_valid() else []
    shown = rows[:PAGE_SIZE]
    params = request.GET.copy()
    params.pop("after", None)
    next_params = params.copy()
    if len(rows) > PAGE_SIZE:
        next_params["after"] = _encode(shown[-1])
    context = {
        "form": form,
        "entries": shown,
        "has_next": len(rows) > PAGE_SIZE,
        "next_query": next_params.urlencode(),
        "first_query": params.urlencode(),
        "is_later_page": cursor is not None,
        "markets_by_code": {m.code: m for m in markets},
        "known_actions": KNOWN_ACTIONS,
        "revertable": REVERTABLE,
    }
    return page(request, "audit/log.html", context, fragment="audit/_entries.html")
