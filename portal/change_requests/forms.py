"""Forms of the change request pages (times in the market's zone)."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.bounds import NOTE_MAX
from portal.change_requests.models import RequestState
from portal.forms import WallClockField, wall_to_utc


class RequestForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    apply_at = WallClockField(
        required=False, label="Apply at", help_text="Market time. Empty: as soon as it is approved."
    )

    def __init__(self, *args: Any, timezone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = timezone

    def clean_apply_at(self) -> Any:
        return wall_to_utc(self.cleaned_data.get("apply_at"), self.tz, field="apply_at")


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=NOTE_MAX,
        widget=forms.TextInput(attrs={"placeholder": "Why (optional)", "aria-label": "Why you reject it"}),
    )


class PreviewAtForm(forms.Form):
    at = WallClockField(required=False, label="Preview at")


class RequestFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *RequestState.choices])
    market = forms.CharField(required=False, max_length=32)
    author = forms.CharField(required=False, max_length=150)


class PolicyForm(forms.Form):
    approvals_required = forms.TypedChoiceField(
        coerce=int,
        choices=[(0, "Changes apply directly"), (1, "One approval"), (2, "Two approvals")],
        widget=forms.RadioSelect,
        label="Approvals",
    )
    rules = forms.BooleanField(required=False, label="Rules need approval")
    settings = forms.BooleanField(required=False, label="Settings need approval")
    positions = forms.BooleanField(required=False, label="Every position change needs approval")
    bulk_threshold = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        label="Bulk changes over",
        help_text="Positions in one bulk action; empty: bulk changes follow the position setting.",
    )

    def __init__(self, *args: Any, for_group: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if for_group:
            # A group has rules and positions, no settings a request changes.
            del self.fields["settings"]
