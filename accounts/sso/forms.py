"""Forms of the single sign-on pages: a group mapping, and re-authentication by password."""

from __future__ import annotations

from django import forms

from accounts.models import Role
from markets.models import Market


class SsoGroupMappingForm(forms.Form):
    group_name = forms.CharField(
        label="Provider group",
        max_length=255,
        help_text="Exactly as the provider sends it, e.g. meridian-editors-dach.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(choices=Role.choices)
    market = forms.ModelChoiceField(
        queryset=Market.objects.order_by("code"),
        required=False,
        to_field_name="code",
        empty_label="All markets",
        help_text="Admins and reviewers always apply to all markets.",
    )


class ReauthForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
