"""django-filter filter sets for the content REST API.

The content filter only validates the query; the search itself is `content.selectors.content_search`,
the same one the board uses, so the API and the UI never disagree about what a filter means.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

from accounts.access import Action, require
from content.models import ContentItem, ContentType, GroupPosition, Position, PositionState, Tag
from content.selectors import content_search
from markets.models import Market
from portal.bounds import datetime_range_error

NO_OVERRIDE = "none"


class AwareIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 query value that must carry its UTC offset (a naive time is refused)."""

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                raise forms.ValidationError(
                    "Give a time zone with the time, e.g. 2026-03-01T00:00:00Z.", code="naive"
                )
        result: datetime | None = super().to_python(value)
        if result is not None:
            # e.g. 0001-01-01T00:00:00+23:59, which is before year 1 in UTC
            error = datetime_range_error(result)
            if error:
                raise forms.ValidationError(error, code="overflow")
            result = result.astimezone(UTC)
        return result


class AwareIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = AwareIsoDateTimeField


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """Any of several comma-separated values."""


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """Any of several comma-separated values from a fixed list."""


class ContentFilterForm(forms.Form):
    """Cross-field and database checks of the content filters (unknown tags and markets → 400)."""

    def clean_tag(self) -> list[str] | None:
        slugs: list[str] | None = self.cleaned_data.get("tag")
        if slugs:
            known = set(Tag.objects.filter(slug__in=slugs).values_list("slug", flat=True))
            unknown = sorted(set(slugs) - known)
            if unknown:
                raise forms.ValidationError(f"Unknown tag(s): {', '.join(unknown)}.")
        return slugs

    def clean_market(self) -> Market | None:
        code: str = (self.cleaned_data.get("market") or "").strip().upper()
        if not code:
            return None
        market = Market.objects.filter(code=code).first()
        if market is None:
            raise forms.ValidationError(f"There is no market {code!r}.")
        return market

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        market, state = data.get("market"), data.get("state")
        if state and market is None and "market" not in self.errors:
            self.add_error("market", "Filtering by state needs a market, e.g. market=AU&state=hidden.")
        if market is not None and not state:
            self.add_error("state", "Name the position state to filter on in that market (or 'none').")
        after, before = data.get("published_after"), data.get("published_before")
        if after is not None and before is not None and after >= before:
            self.add_error("published_before", "The range must end after it starts.")
        return data


class ContentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(help_text="Words in the title, or an exact upstream id.")
    type = ChoiceInFilter(choices=ContentType.choices, help_text="Content types, comma-separated.")
    source = CharInFilter(help_text="Sources, comma-separated.")
    tag = CharInFilter(help_text="Tag slugs, comma-separated; an item matches any of them.")
    language = CharInFilter(help_text="Language tags, comma-separated.")
    published_after = AwareIsoDateTimeFilter(help_text="Published at or after (ISO 8601 with offset).")
    published_before = AwareIsoDateTimeFilter(help_text="Published before (ISO 8601 with offset).")
    market = django_filters.CharFilter(help_text="A market code; use with `state`.")
    state = django_filters.ChoiceFilter(
        choices=[*PositionState.choices, (NO_OVERRIDE, "No override")],
        help_text="The item's stored position state in `market` ('none': no override).",
    )

    class Meta:
        model = ContentItem
        fields: list[str] = []
        form = ContentFilterForm

    def filter_queryset(self, queryset: QuerySet[ContentItem]) -> QuerySet[ContentItem]:
        data = self.form.cleaned_data
        market: Market | None = data.get("market")
        if market is not None:
            require(self.request.user, Action.VIEW_MARKET, market)
        return content_search(
            query=data.get("q") or "",
            content_types=data.get("type") or (),
            sources=data.get("source") or (),
            tags=data.get("tag") or (),
            languages=data.get("language") or (),
            published_from=data.get("published_after"),
            published_to=data.get("published_before"),
            market=market,
            position_state=data.get("state") or "",
        )


class PositionFilter(django_filters.FilterSet):
    state = ChoiceInFilter(choices=PositionState.choices, help_text="Position states, comma-separated.")

    class Meta:
        model = Position
        fields = ["state"]


class GroupPositionFilter(django_filters.FilterSet):
    state = ChoiceInFilter(choices=PositionState.choices, help_text="Position states, comma-separated.")

    class Meta:
        model = GroupPosition
        fields = ["state"]
