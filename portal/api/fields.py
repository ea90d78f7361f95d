"""Strict serializer fields: wrong JSON types are refused instead of coerced, unknown keys too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from portal.bounds import OUT_OF_RANGE, datetime_range_error


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer field that refuses strings ("3"), floats (3.0) and booleans instead of coercing them."""

    default_error_messages = {"invalid": "Must be an integer (a JSON number without quotes or decimals)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A boolean that must be JSON true or false: "yes", 1 or "false" are refused, not guessed."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset; stored and returned in UTC.

    A naive time is refused rather than read as UTC: an editor in Sydney who writes 06:00 means
    06:00 in Sydney, and guessing would shift a campaign window by hours.
    """

    default_error_messages = {
        "naive": "Give a time zone with the time, e.g. 2026-03-01T06:00:00+11:00 or 2026-02-28T19:00:00Z.",
        "overflow": OUT_OF_RANGE,
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        if datetime_range_error(value):
            self.fail("overflow")
        return value.astimezone(UTC)


class StrictFieldsMixin:
    """Refuse keys the serializer does not accept, so a typo ("titel") is not silently ignored."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown or read-only field."] for name in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """A related object by a text key (a market code): only a string, without NUL, at most 64 characters.

    Checked before the lookup, so that a stray value is a field error rather than a database error
    (PostgreSQL refuses NUL in text and would answer the query with a 500).
    """

    default_error_messages = {"invalid": "Must be a string of at most 64 characters."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or "\x00" in data or len(data) > 64:
            self.fail("invalid")
        return super().to_internal_value(data)
