"""Forms of the label review UI: they parse input; the services validate and decide."""

from __future__ import annotations

from typing import Any

from django import forms

from content.labels.models import LEGACY_MODERATION_CATEGORIES, MODERATION_CATEGORIES, LabelStatus
from content.labels.selectors import QueueFilters

PERCENT_ATTRS = {"min": "0", "max": "100", "step": "0.1", "inputmode": "decimal"}


class QueueFilterForm(forms.Form):
    label = forms.CharField(required=False, max_length=200, label="Label")
    category = forms.CharField(required=False, max_length=200, label="Category")
    min_confidence = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Confidence from",
        widget=forms.NumberInput(PERCENT_ATTRS),
    )
    max_confidence = forms.FloatField(
        required=False, min_value=0, max_value=100, label="to", widget=forms.NumberInput(PERCENT_ATTRS)
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("pending", "Pending"), ("approved", "Approved"), ("rejected", "Rejected"), ("any", "Any")],
        label="Label status",
    )
    model_version = forms.CharField(required=False, max_length=32, label="Model version")
    reviewer = forms.CharField(
        required=False, max_length=150, label="Decided by", help_text='A username, or "auto".'
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("min_confidence"), data.get("max_confidence")
        if low is not None and high is not None and low > high:
            self.add_error("max_confidence", "The upper bound must not be below the lower bound.")
        return data

    def to_filters(self) -> QueueFilters:
        """Return the selector's filters (call after is_valid())."""
        data = self.cleaned_data if self.is_valid() else {}
        status = data.get("status") or LabelStatus.PENDING
        return QueueFilters(
            label=data.get("label") or "",
            category=data.get("category") or "",
            min_confidence=data.get("min_confidence"),
            max_confidence=data.get("max_confidence"),
            status="" if status == "any" else status,
            model_version=data.get("model_version") or "",
            reviewer=data.get("reviewer") or "",
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    images = MultipleFileField(label="Images (JPEG or PNG, up to 15 MB each)")
    content_id = forms.CharField(required=False, max_length=128, label="Content item (upstream id, optional)")


class ApproveAtLeastForm(forms.Form):
    min_confidence = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=90,
        label="Approve all pending ≥",
        widget=forms.NumberInput(PERCENT_ATTRS),
    )


class SectionForm(forms.Form):
    name = forms.CharField(max_length=120, label="New section")


class MappingForm(forms.Form):
    label_name = forms.CharField(max_length=200, label="Label")
    min_confidence = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=90,
        label="Minimum confidence",
        widget=forms.NumberInput(PERCENT_ATTRS),
    )


class BandsForm(forms.Form):
    auto_accept = forms.FloatField(
        min_value=0, max_value=100, label="Auto-approve at or above", widget=forms.NumberInput(PERCENT_ATTRS)
    )
    auto_reject = forms.FloatField(
        min_value=0, max_value=100, label="Auto-reject below", widget=forms.NumberInput(PERCENT_ATTRS)
    )
    apply_to_pending = forms.BooleanField(required=False, label="Also apply to labels still pending")


class PolicyForm(forms.Form):
    category = forms.ChoiceField(
        label="Top-level moderation category",
        choices=[
            ("", "Choose a category"),
            ("Rekognition moderation taxonomy", [(c, c) for c in MODERATION_CATEGORIES]),
            ("Model 6 (legacy labels)", [(c, c) for c in LEGACY_MODERATION_CATEGORIES]),
        ],
    )
    block_at = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=60,
        label="Block at or above",
        widget=forms.NumberInput(PERCENT_ATTRS),
    )
