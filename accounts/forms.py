"""Forms of the accounts pages: creating an API token."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

NEVER = "never"
EXPIRY_CHOICES = [
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    (NEVER, "Never (revoke it by hand)"),
]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="What the token is for, e.g. “ingestion pipeline” or “campaign calendar”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expiry = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, initial="365")

    @property
    def never_expires(self) -> bool:
        return bool(self.cleaned_data["expiry"] == NEVER)

    def expires_at(self) -> datetime | None:
        """Return the chosen expiry time (None when the token never expires)."""
        if self.never_expires:
            return None
        return timezone.now() + timedelta(days=int(self.cleaned_data["expiry"]))
