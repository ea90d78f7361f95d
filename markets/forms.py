"""Forms of the market pages, and wall-clock time entry in a market's time zone.

People enter windows in the market's local time; services take aware UTC. The conversion
happens here, once, so every form (rules, positions, bulk, preview) treats DST gaps the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from content.models import ContentType
from markets.models import RuleAction, Visibility

WALL_FORMAT = "%Y-%m-%dT%H:%M"


class WallClockField(forms.DateTimeField):
    """A datetime-local input whose value is a naive wall-clock time (no zone applied yet)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=WALL_FORMAT)

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Enter a date and time, e.g. 2026-11-28 06:00.", code="invalid")
        return parsed

    def prepare_value(self, value: Any) -> Any:
        return value


def wall_to_utc(value: datetime | None, tz: str, *, field: str = "") -> datetime | None:
    """Return the aware UTC time of wall-clock `value` in zone `tz` (aware values are converted).

    Raises ValidationError (on `field`) for a time that does not exist there (a DST gap).
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    zone = ZoneInfo(tz)
    local = value.replace(tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != value:
        message = f"{value:%d %b %Y %H:%M} does not exist in {tz} (the clocks change then)."
        raise ValidationError({field: message} if field else message, code="nonexistent")
    return utc


def utc_to_wall(value: datetime | None, tz: str) -> datetime | None:
    """Return `value` as a naive wall-clock time in zone `tz`, for a form's initial value."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None, second=0, microsecond=0)


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its fields where they exist, else on top."""
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def split_list(raw: str) -> list[str]:
    """Return the distinct non-empty items of a comma-separated input, in order."""
    return list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


class VersionedForm(forms.Form):
    """A form that carries the version of the object it edits (optimistic concurrency)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class MarketSettingsForm(VersionedForm):
    name = forms.CharField(max_length=120)
    languages = forms.CharField(
        max_length=200, help_text="Language tags, comma-separated, e.g. en, de, pt-BR."
    )
    timezone = forms.ChoiceField(help_text="Windows and times on this market's pages use this zone.")
    default_visibility = forms.ChoiceField(choices=Visibility.choices, widget=forms.RadioSelect)
    active = forms.BooleanField(required=False, help_text="Inactive markets are not served.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in sorted(available_timezones())]  # type: ignore[attr-defined]

    def clean_languages(self) -> list[str]:
        return split_list(self.cleaned_data["languages"])


class RuleForm(VersionedForm):
    action = forms.ChoiceField(choices=RuleAction.choices, widget=forms.RadioSelect)
    boost = forms.IntegerField(
        required=False, min_value=0, max_value=1000, help_text="Promote rules only: higher comes first."
    )
    match_tags = forms.CharField(required=False, help_text="Tag slugs, comma-separated (any of).")
    match_content_types = forms.MultipleChoiceField(
        required=False, choices=ContentType.choices, widget=forms.CheckboxSelectMultiple
    )
    match_sources = forms.CharField(required=False, help_text="Sources, comma-separated (any of).")
    starts_at = WallClockField(required=False, label="From")
    ends_at = WallClockField(required=False, label="Until")
    note = forms.CharField(required=False, max_length=500, widget=forms.TextInput)

    def __init__(self, *args: Any, timezone: str = "UTC", editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = timezone
        # A new rule has no version yet; an edit must say which version it was made against, or a
        # stale form could silently overwrite someone else's change.
        self.fields["version"].required = editing

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("starts_at", "ends_at"):
            if data.get(name) is not None:
                try:
                    data[name] = wall_to_utc(data[name], self.tz)
                except ValidationError as exc:
                    self.add_error(name, exc.messages)
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments rule_create / rule_update take."""
        data = self.cleaned_data
        return {
            "action": data["action"],
            "boost": data.get("boost") or 0,
            "match_tags": split_list(data.get("match_tags") or ""),
            "match_content_types": list(data.get("match_content_types") or []),
            "match_sources": split_list(data.get("match_sources") or ""),
            "starts_at": data.get("starts_at"),
            "ends_at": data.get("ends_at"),
            "note": data.get("note") or "",
        }


PREVIEW_LIMITS = (10, 25, 50, 100, 200)


class PreviewForm(forms.Form):
    at = WallClockField(required=False, label="At (market time)")
    limit = forms.TypedChoiceField(
        coerce=int, choices=[(n, n) for n in PREVIEW_LIMITS], initial=25, required=False, label="Items"
    )
    hidden = forms.BooleanField(required=False, label="Also show what is hidden, and why")
