"""Forms for notifications: channel choices per event kind, and webhook endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from markets.models import Market
from portal.notifications.kinds import webhook_kinds
from portal.notifications.models import Channel
from portal.notifications.selectors import PreferenceRow


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class ChannelsForm(forms.Form):
    """One checkbox per (event kind, channel), initially the effective choice."""

    def __init__(self, rows: Sequence[PreferenceRow], data: Any = None) -> None:
        super().__init__(data=data)
        for row in rows:
            for channel in Channel:
                self.fields[field_name(row.kind, channel)] = forms.BooleanField(
                    required=False, initial=row.channels[channel], label=f"{row.label}: {channel.label}"
                )

        self.rows = list(rows)

    def matrix(self) -> list[tuple[str, list[forms.BoundField]]]:
        """Return (event label, its channel checkboxes) per row, for a table."""
        return [(row.label, [self[field_name(row.kind, c)] for c in Channel]) for row in self.rows]

    def choices(self) -> dict[tuple[str, str], bool]:
        """Return the submitted (kind, channel) → on/off that say something (call after is_valid):
        a box changed from its effective setting, or one already chosen. An untouched box is not
        returned, so it keeps following the role's default (or the built-in one)."""
        chosen = {}
        for row in self.rows:
            for channel in Channel:
                value = bool(self.cleaned_data.get(field_name(row.kind, channel)))
                if channel in row.own or value != row.channels[channel]:
                    chosen[(row.kind, channel.value)] = value
        return chosen


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        label="URL",
        help_text="https only; the host must resolve to public addresses.",
    )
    kinds = forms.MultipleChoiceField(
        choices=webhook_kinds, widget=forms.CheckboxSelectMultiple, label="Events"
    )
    markets = forms.ModelMultipleChoiceField(
        queryset=Market.objects.order_by("code"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None: every market. Events that name no market always reach the endpoint.",
    )
