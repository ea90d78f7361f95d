"""The schedule's filters."""

from __future__ import annotations

from typing import Any

from django import forms

from markets.models import Market
from portal.schedule.selectors import KIND_LABELS, Edge, EventKind, ScheduleFilter

# The kinds that have a source today; the change-request and rights areas add theirs.
FILTERABLE_KINDS = (EventKind.POSITION, EventKind.EMBARGO, EventKind.RULE)


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

    def __init__(self, *args: Any, markets: list[Market], fixed_market: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.markets = {m.code: m for m in markets}
        self.fields["market"].choices = [("", "All my markets"), *((m.code, m.code) for m in markets)]  # type: ignore[attr-defined]  # Field stubs lack .choices
        if fixed_market:
            del self.fields["market"]

    def schedule_filter(self) -> ScheduleFilter:
        data = self.cleaned_data if self.is_valid() else {}
        kind = data.get("kind") or ""
        return ScheduleFilter(kinds=frozenset({kind}) if kind else frozenset(), edge=data.get("edge") or "")

    def chosen_markets(self) -> list[Market]:
        code = (self.cleaned_data.get("market") or "") if self.is_valid() else ""
        return [self.markets[code]] if code else list(self.markets.values())
