"""The Fit panel's "Apply" form: the recommended rate, burst and quota, as the admin confirms them."""

from __future__ import annotations

from django import forms


class ApplyRecommendationForm(forms.Form):
    rate = forms.IntegerField(min_value=1, max_value=10_000, label="Rate (requests/s)")
    burst = forms.IntegerField(min_value=1, max_value=5_000, label="Burst")
    quota_limit = forms.IntegerField(min_value=1, max_value=2**31 - 1, required=False, label="Quota")


class ApplyBurstForm(forms.Form):
    """The plan Fit's "Apply the burst only": the plan's rate and quota stay as they are."""

    burst = forms.IntegerField(min_value=1, max_value=5_000, label="Burst")


class TrafficWindowForm(forms.Form):
    """The key traffic page's query string: how many hours of minutes to show (up to 3 days)."""

    hours = forms.IntegerField(min_value=1, max_value=72, required=False)
