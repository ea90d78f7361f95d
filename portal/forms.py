"""Form plumbing every portal form shares: wall-clock time entry in a market's time zone, service
errors shown on fields, and the version a form edits.

People enter windows in the market's local time; services take aware UTC. The conversion
happens here, once, so every form (rules, positions, bulk, preview) treats DST gaps the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from portal.bounds import EARLIEST, LATEST, OUT_OF_RANGE, datetime_range_error, wall_clock_range_error

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
        error = datetime_range_error(parsed) if parsed.tzinfo else wall_clock_range_error(parsed)
        if error:
            raise ValidationError(error, code="out_of_range")
        return parsed

    def prepare_value(self, value: Any) -> Any:
        return value


class BoundedDateField(forms.DateField):
    """A date whose midnight exists in every time zone, the day after included (years 2–9998)."""

    def to_python(self, value: Any) -> date | None:
        day: date | None = super().to_python(value)
        if day is not None and not EARLIEST.date() <= day <= LATEST.date():
            raise ValidationError(OUT_OF_RANGE, code="out_of_range")
        return day


def wall_to_utc(value: datetime | None, tz: str, *, field: str = "") -> datetime | None:
    """Return the aware UTC time of wall-clock `value` in zone `tz` (aware values are converted).

    Raises ValidationError (on `field`) for a time that does not exist there (a DST gap).
    """
    if value is None:
        return None
    zone = ZoneInfo(tz)
    try:
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        local = value.replace(tzinfo=zone)
        utc = local.astimezone(UTC)
        back = utc.astimezone(zone)
    except OverflowError:
        # 0001-01-01 00:00 in Sydney is before year 1 in UTC: a field error, not a 500.
        raise ValidationError({field: OUT_OF_RANGE} if field else OUT_OF_RANGE, code="out_of_range") from None
    if back.astimezone(zone).replace(tzinfo=None) != value:
        message = f"{value:%d %b %Y %H:%M} does not exist in {tz} (the clocks change then)."
        raise ValidationError({field: message} if field else message, code="nonexistent")
    return utc


def utc_to_wall(value: datetime | None, tz: str) -> datetime | None:
    """Return `value` as a naive wall-clock time in zone `tz`, for a form's initial value."""
    if value is None:
        return None
    try:
        return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None, second=0, microsecond=0)
    except OverflowError:  # a stored time at the very edge of the calendar: show it in UTC
        return value.replace(tzinfo=None, second=0, microsecond=0)


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
