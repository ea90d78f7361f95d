"""Forms of the market pages: settings, rules and the preview (times in the market's zone)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from markets.codes import timezone_names
from markets.models import RuleAction, Visibility
from markets.vocabulary import ContentType
from portal.forms import VersionedForm, WallClockField, split_list, wall_to_utc


class MarketSettingsForm(VersionedForm):
    name = forms.CharField(max_length=120)
    languages = forms.CharField(
        max_length=200, help_text="Language tags, comma-separated, e.g. en, de, pt-BR."
    )
    timezone = forms.ChoiceField(help_text="Windows and times on this market's pages use this zone.")
    default_visibility = forms.ChoiceField(choices=Visibility.choices, widget=forms.RadioSelect)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in timezone_names()]  # type: ignore[attr-defined]

    def clean_languages(self) -> list[str]:
        return split_list(self.cleaned_data["languages"])


class MarketCreateForm(forms.Form):
    """A new market or partner edition; admins only (markets.services.market_create checks)."""

    code = forms.CharField(
        max_length=32,
        help_text="A country's ISO 3166-1 alpha-2 code (DE), or a partner edition: the country, a "
        "hyphen and the partner's name in capitals (DE-TELEKOM). It cannot be changed later.",
    )
    name = forms.CharField(max_length=120)
    copy_rules_from = forms.ChoiceField(
        required=False,
        label="Copy rules from",
        help_text="Every rule of that market becomes a new rule of this one; its languages and "
        "time zone fill the fields left blank.",
    )
    languages = forms.CharField(
        max_length=200,
        required=False,
        help_text="Language tags, comma-separated, e.g. de, en. Blank: those of the market copied.",
    )
    timezone = forms.ChoiceField(
        required=False, help_text="Blank: the copied market's time zone, or UTC when none is copied."
    )
    default_visibility = forms.ChoiceField(
        choices=Visibility.choices,
        widget=forms.RadioSelect,
        initial=Visibility.VISIBLE,
        help_text="Opt-in suits a partner edition: it shows only what is shown, promoted or pinned.",
    )
    groups = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Market groups to join (their rules and positions then apply here). A copy also "
        "joins the copied market's groups.",
    )

    def __init__(
        self,
        *args: Any,
        market_codes: list[tuple[str, str]],
        group_codes: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = group_codes or []  # type: ignore[attr-defined]
        self.fields["copy_rules_from"].choices = [("", "Start with no rules"), *market_codes]  # type: ignore[attr-defined]
        self.fields["timezone"].choices = [  # type: ignore[attr-defined]
            ("", "Same as the copied market (else UTC)"),
            *((z, z) for z in timezone_names()),
        ]

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip().upper()

    def clean_languages(self) -> list[str] | None:
        return split_list(self.cleaned_data.get("languages") or "") or None


BINDING_HELP = (
    "A binding hide rule hides what it matches even where an editor has shown, promoted or pinned "
    "the item: use it for legal duties such as youth protection or a court order. Hide rules only; "
    "only market managers of this market and admins can set or clear it."
)


class RuleForm(VersionedForm):
    action = forms.ChoiceField(choices=RuleAction.choices, widget=forms.RadioSelect)
    boost = forms.IntegerField(
        required=False, min_value=0, max_value=1000, help_text="Promote rules only: higher comes first."
    )
    match_tags = forms.CharField(
        required=False, max_length=10_000, help_text="Tag slugs, comma-separated (any of)."
    )
    match_content_types = forms.MultipleChoiceField(
        required=False, choices=ContentType.choices, widget=forms.CheckboxSelectMultiple
    )
    match_sources = forms.CharField(
        required=False, max_length=10_000, help_text="Sources, comma-separated (any of)."
    )
    starts_at = WallClockField(required=False, label="From")
    ends_at = WallClockField(required=False, label="Until")
    note = forms.CharField(required=False, max_length=500, widget=forms.TextInput)
    binding = forms.BooleanField(
        required=False,
        label="Binding (a legal duty): overrides editors' positions",
        help_text=BINDING_HELP,
    )

    def __init__(
        self,
        *args: Any,
        timezone: str = "UTC",
        editing: bool = False,
        can_set_binding: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tz = timezone
        # A new rule has no version yet; an edit must say which version it was made against, or a
        # stale form could silently overwrite someone else's change.
        self.fields["version"].required = editing
        # Only market managers of the market and admins see (and may send) the binding checkbox.
        if not can_set_binding:
            del self.fields["binding"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("starts_at", "ends_at"):
            if data.get(name) is not None:
                try:
                    data[name] = wall_to_utc(data[name], self.tz)
                except ValidationError as exc:
                    self.add_error(name, exc.messages)
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts is not None and ends is not None and starts >= ends:
            self.add_error("ends_at", "The window must end after it starts.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments rule_create / rule_update take."""
        data = self.cleaned_data
        binding = {"binding": bool(data.get("binding"))} if "binding" in self.fields else {}
        return {
            **binding,
            "action": data["action"],
            "boost": data.get("boost") or 0,
            "match_tags": split_list(data.get("match_tags") or ""),
            "match_content_types": list(data.get("match_content_types") or []),
            "match_sources": split_list(data.get("match_sources") or ""),
            "starts_at": data.get("starts_at"),
            "ends_at": data.get("ends_at"),
            "note": data.get("note") or "",
        }


PREVIEW_LIMITS = (10, 25, 50, 100, 200)


class PreviewForm(forms.Form):
    at = WallClockField(required=False, label="At (market time)")
    limit = forms.TypedChoiceField(
        coerce=int, choices=[(n, n) for n in PREVIEW_LIMITS], initial=25, required=False, label="Items"
    )
    hidden = forms.BooleanField(required=False, label="Also show what is hidden, and why")
