"""The schedule's filters."""

from __future__ import annotations

from typing import Any

from django import forms

from markets.models import Market, MarketGroup
from portal.schedule.selectors import KIND_LABELS, Edge, EventKind, ScheduleFilter

# The kinds a user can filter on: every kind the schedule shows.
FILTERABLE_KINDS = tuple(EventKind)


class ScheduleFilterForm(forms.Form):
    market = forms.ChoiceField(required=False, label="Market")
    kind = forms.ChoiceField(
        required=False,
        label="Kind",
        choices=[("", "Any"), *((k.value, KIND_LABELS[k]) for k in FILTERABLE_KINDS)],
    )
    edge = forms.ChoiceField(
        required=False,
        label="Starts or ends",
        choices=[("", "Both"), (Edge.STARTS.value, "Starts"), (Edge.ENDS.value, "Ends")],
    )

    def __init__(
        self,
        *args: Any,
        markets: list[Market],
        fixed_market: bool = False,
        group: MarketGroup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.markets = {m.code: m for m in markets}
        self.group = group
        if group is not None:
            # A group's page: the group's own windows, or one member's, or all of them.
            choices = [
                ("", f"{group.code} + members"),
                (group.code, f"{group.code} only (UTC)"),
                *((m.code, m.code) for m in markets),
            ]
        else:
            choices = [("", "All my markets"), *((m.code, m.code) for m in markets)]
        self.fields["market"].choices = choices  # type: ignore[attr-defined]  # Field stubs lack .choices
        if fixed_market:
            del self.fields["market"]

    def schedule_filter(self) -> ScheduleFilter:
        data = self.cleaned_data if self.is_valid() else {}
        kind = data.get("kind") or ""
        return ScheduleFilter(kinds=frozenset({kind}) if kind else frozenset(), edge=data.get("edge") or "")

    def _chosen(self) -> str:
        return (self.cleaned_data.get("market") or "") if self.is_valid() else ""

    def chosen_markets(self) -> list[Market]:
        code = self._chosen()
        if self.group is not None and code == self.group.code:
            return []
        return [self.markets[code]] if code else list(self.markets.values())

    def chosen_groups(self) -> list[MarketGroup]:
        """The group whose own windows are shown (a group's page), unless one member is chosen."""
        if self.group is None or self._chosen() not in ("", self.group.code):
            return []
        return [self.group]
