"""Forms of the content board, the bulk positioning panel and the item page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from content.board import (
    DEFAULT_PAGE_SIZE,
    MATCH_CAP,
    PAGE_SIZES,
    SORT_LABELS,
    STATE_FILTERS,
    BoardFilter,
    split_terms,
)
from content.models import ContentType, Position, PositionState
from content.services import BOOST_RANGE, PositionChange
from markets.models import Market, MarketGroup
from portal.forms import BoundedDateField, VersionedForm, WallClockField, wall_to_utc

# What an editor asks for, and the position state it becomes.
ACTION_STATES = {
    "hide": PositionState.HIDDEN,
    "show": PositionState.SHOWN,
    "promote": PositionState.PROMOTED,
    "pin": PositionState.PINNED,
    "reset": PositionState.DEFAULT,
}
ACTION_LABELS = {
    "hide": "Hide",
    "show": "Show (even against a rule, unless binding)",
    "promote": "Promote (boost)",
    "pin": "Pin (slot)",
    "reset": "Reset to rules and default",
}
STATE_LABELS = {
    PositionState.HIDDEN: "Hide",
    PositionState.SHOWN: "Show (even against a rule, unless binding)",
    PositionState.PROMOTED: "Promote (boost)",
    PositionState.PINNED: "Pin (slot)",
    PositionState.DEFAULT: "Reset to rules and default",
}


def _local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


class BoardFilterForm(forms.Form):
    """The board's filters. Always valid enough to render: bad fields fall back to defaults."""

    q = forms.CharField(
        required=False,
        label="Search",
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Title words or an exact upstream id"}
        ),
    )
    type = forms.MultipleChoiceField(
        required=False, choices=ContentType.choices, widget=forms.CheckboxSelectMultiple, label="Type"
    )
    source = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated.",
        widget=forms.TextInput(attrs={"list": "facet-source"}),
    )
    tag = forms.CharField(
        required=False,
        max_length=500,
        help_text="Any of them; comma-separated.",
        widget=forms.TextInput(attrs={"list": "facet-tag"}),
    )
    language = forms.CharField(
        required=False,
        max_length=200,
        help_text="e.g. en, de",
        widget=forms.TextInput(attrs={"list": "facet-language"}),
    )
    published_from = BoundedDateField(
        required=False, label="Published from", widget=forms.DateInput(attrs={"type": "date"})
    )
    published_to = BoundedDateField(
        required=False, label="Published until", widget=forms.DateInput(attrs={"type": "date"})
    )
    # The view resolves the market against the user's markets (and refuses the others).
    market = forms.CharField(required=False, label="Market", max_length=32)
    state = forms.ChoiceField(
        required=False,
        label="State in market",
        choices=[("", "Any"), *STATE_FILTERS.items()],
    )
    sort = forms.ChoiceField(required=False, choices=list(SORT_LABELS.items()), label="Sort")
    per_page = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in PAGE_SIZES], label="Rows"
    )

    def __init__(self, *args: Any, markets: list[Market], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.markets = {m.code: m for m in markets}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("published_from"), data.get("published_to")
        if start and end and end < start:
            self.add_error("published_to", "The end date is before the start date.")
        return data

    def board_filter(self, market: Market | None) -> BoardFilter:
        """Return the parsed filter; dates are whole days in `market`'s time zone."""
        data = self.cleaned_data if self.is_valid() else {}
        zone = ZoneInfo(market.timezone if market is not None else "UTC")
        start: date | None = data.get("published_from")
        end: date | None = data.get("published_to")
        return BoardFilter(
            query=data.get("q") or "",
            content_types=tuple(data.get("type") or ()),
            sources=split_terms(data.get("source") or ""),
            tags=split_terms(data.get("tag") or ""),
            languages=split_terms(data.get("language") or ""),
            published_from=_local_day_start(start, zone) if start else None,
            # "Until" includes the whole day.
            published_to=_local_day_start(end + timedelta(days=1), zone) if end else None,
            market=market,
            state=data.get("state") or "",
            sort=data.get("sort") or "newest",
            page_size=data.get("per_page") or DEFAULT_PAGE_SIZE,
        )


class PositionForm(VersionedForm):
    """Change one item's position in one market (the item page's matrix cell)."""

    state = forms.ChoiceField(choices=list(STATE_LABELS.items()), widget=forms.RadioSelect, label="Make it")
    boost = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        error_messages={"min_value": BOOST_RANGE, "max_value": BOOST_RANGE, "invalid": BOOST_RANGE},
    )
    slot = forms.IntegerField(required=False, min_value=1, max_value=1000)
    starts_at = WallClockField(required=False, label="From")
    ends_at = WallClockField(required=False, label="Until")
    reason = forms.CharField(required=False, max_length=500)
    window = forms.ChoiceField(
        required=False,
        label="Its window",
        choices=[("keep", "Keep the window below for the new state"), ("clear", "No window: from now on")],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, market: Market, position: Position | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = market
        self.change: PositionChange | None = None
        # A new state for a windowed position asks what happens to the window, instead of
        # silently carrying "until Friday" over to a different state.
        has_window = position is not None and bool(position.starts_at or position.ends_at)
        self.stored_state = position.state if position is not None else None
        self.had_window = has_window and self.stored_state != PositionState.DEFAULT

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        if self.had_window and data.get("state") != self.stored_state:
            if not data.get("window"):
                self.add_error("window", "The state changes: keep the window for the new state, or drop it?")
                return data
            if data["window"] == "clear":
                data["starts_at"] = data["ends_at"] = None
        try:
            self.change = _position_change(data, data["state"], self.market.timezone)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        return data


def _position_change(data: dict[str, Any], state: str, tz: str) -> PositionChange:
    """Build and validate the change from cleaned form data, windows read in zone `tz`."""
    errors: dict[str, list[str]] = {}
    window: dict[str, datetime | None] = {}
    for name in ("starts_at", "ends_at"):
        try:
            window[name] = wall_to_utc(data.get(name), tz)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    if state == PositionState.PROMOTED and not data.get("boost"):
        raise ValidationError({"boost": BOOST_RANGE})
    if state == PositionState.PINNED and not data.get("slot"):
        raise ValidationError({"slot": "Give a slot (1 is the top) to pin."})
    change = PositionChange(
        state=state,
        boost=(data.get("boost") or 0) if state == PositionState.PROMOTED else 0,
        slot=data.get("slot") if state == PositionState.PINNED else None,
        starts_at=window["starts_at"],
        ends_at=window["ends_at"],
        reason=(data.get("reason") or "").strip(),
    )
    change.validate()
    return change


class IdListField(forms.Field):
    """Many item ids posted as repeated hidden inputs or checkboxes."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            return list(dict.fromkeys(int(v) for v in values))
        except (TypeError, ValueError) as exc:
            raise ValidationError("The selection contains an invalid item id.", code="invalid") from exc


class BulkForm(forms.Form):
    """Bulk positioning: selected items (or all matching a filter) × markets × one change."""

    item = IdListField(required=False)
    all_matching = forms.BooleanField(required=False)
    filter = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    markets = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, label="In markets", required=False
    )
    # A group position is one row for the whole group, however many members (never a pin).
    groups = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="In groups", required=False)
    action = forms.ChoiceField(choices=list(ACTION_LABELS.items()), widget=forms.RadioSelect, label="Make it")
    boost = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        error_messages={"min_value": BOOST_RANGE, "max_value": BOOST_RANGE, "invalid": BOOST_RANGE},
    )
    slot = forms.IntegerField(required=False, min_value=1, max_value=1000, label="First slot")
    starts_at = WallClockField(required=False, label="From")
    ends_at = WallClockField(required=False, label="Until")
    reason = forms.CharField(required=False, max_length=500)

    def __init__(
        self, *args: Any, markets: list[Market], groups: list[MarketGroup] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.editable = {m.code: m for m in markets}
        self.known_groups = {g.code: g for g in groups or []}
        self.fields["markets"].choices = [(m.code, m.code) for m in markets]  # type: ignore[attr-defined]
        self.fields["groups"].choices = [(g.code, g.code) for g in groups or []]  # type: ignore[attr-defined]
        self.fields["groups"].error_messages["invalid_choice"] = "There is no group %(value)s you can see."
        self.fields["markets"].error_messages["invalid_choice"] = (
            "You may not edit positions in %(value)s (or it does not exist)."
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("item") and not data.get("all_matching"):
            self.add_error(None, "Select at least one item, or all items matching the filter.")
        if not data.get("markets") and not data.get("groups") and not self.errors.get("markets"):
            self.add_error("markets", "Choose at least one market or group.")
        if data.get("groups") and data.get("action") == "pin":
            self.add_error("groups", "Pins stay per market: choose markets to pin in, or another change.")
        if len(data.get("item") or ()) > MATCH_CAP:
            self.add_error(None, f"Select at most {MATCH_CAP:,} items at once.")
        action = data.get("action")
        if action and not self.errors:
            # Validate once in UTC for the shape of the change; each market converts its own window.
            try:
                _position_change(data, ACTION_STATES[action], "UTC")
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, messages)
        return data

    def selected_markets(self) -> list[Market]:
        return [self.editable[code] for code in self.cleaned_data.get("markets") or []]

    def selected_groups(self) -> list[MarketGroup]:
        return [self.known_groups[code] for code in self.cleaned_data.get("groups") or []]

    def change_for(self, tz: str) -> PositionChange:
        """Return the change with the window read in zone `tz`. Raises ValidationError (DST gap)."""
        return _position_change(self.cleaned_data, ACTION_STATES[self.cleaned_data["action"]], tz)


class TagsForm(forms.Form):
    add = forms.CharField(
        required=False, max_length=500, label="Add tags", help_text="Comma-separated slugs."
    )
    remove = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not split_terms(data.get("add") or "") and not split_terms(data.get("remove") or ""):
            self.add_error("add", "Name a tag to add.")
        return data
