"""Forms for the partners area: parse and check input, then hand it to a service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.partners.gateway.base import MethodThrottle
from accounts.partners.models import Partner, QuotaPeriod, UsagePlan
from accounts.partners.services import PlanInput
from portal.bounds import INT32_MAX, NOTE_MAX

GRACE_CHOICES = [
    ("0", "No grace: the old key stops now"),
    ("1", "1 hour"),
    ("24", "24 hours"),
    ("72", "3 days"),
    ("168", "7 days"),
]


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (or above the form)."""
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


class PartnerForm(forms.Form):
    name = forms.CharField(max_length=120)
    contact_name = forms.CharField(max_length=120, required=False, label="Contact person")
    contact_email = forms.EmailField(required=False, label="Contact email")
    notes = forms.CharField(required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    active = forms.BooleanField(
        required=False, initial=True, help_text="An inactive partner's keys stop working."
    )

    @classmethod
    def for_partner(cls, partner: Partner, data: Any = None) -> PartnerForm:
        initial = {
            "name": partner.name,
            "contact_name": partner.contact_name,
            "contact_email": partner.contact_email,
            "notes": partner.notes,
            "active": partner.active,
        }
        return cls(data=data, initial=initial)


def _throttle_lines(plan: UsagePlan) -> str:
    lines = []
    for stage, methods in sorted((plan.method_throttles or {}).items()):
        for path, t in sorted(methods.items()):
            lines.append(f"{stage} {path} {t['rate']:g} {t['burst']}")
    return "\n".join(lines)


class UsagePlanForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(
        required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )
    rate_limit = forms.DecimalField(
        label="Rate (requests per second)",
        max_digits=10,
        decimal_places=3,
        help_text="The steady rate; fractions such as 0.5 are allowed.",
    )
    burst_limit = forms.IntegerField(
        max_value=INT32_MAX, label="Burst (requests)", help_text="How many requests may arrive at once."
    )
    quota_limit = forms.IntegerField(
        max_value=INT32_MAX,
        label="Quota (requests per period)",
        required=False,
        help_text="Leave empty for no quota.",
    )
    quota_period = forms.ChoiceField(
        label="Quota period", required=False, choices=[("", "—"), *QuotaPeriod.choices]
    )
    quota_offset = forms.IntegerField(
        min_value=0,
        max_value=27,
        label="Period starts on (offset)",
        initial=0,
        help_text="DAY: 0. WEEK: 0 = Sunday … 6 = Saturday. MONTH: 0 = the 1st … 27 = the 28th. "
        "Periods are in UTC.",
    )
    api_stages = forms.CharField(
        max_length=2_000,
        label="API stages",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One apiId:stage per line.",
    )
    method_throttles = forms.CharField(
        max_length=10_000,
        label="Per-method throttles",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional, one per line: apiId:stage /resource/METHOD rate burst "
        "(e.g. abc123:prod /feed/GET 5 10).",
    )

    @classmethod
    def for_plan(cls, plan: UsagePlan, data: Any = None) -> UsagePlanForm:
        initial = {
            "name": plan.name,
            "description": plan.description,
            "rate_limit": plan.rate_limit.normalize(),
            "burst_limit": plan.burst_limit,
            "quota_limit": plan.quota_limit,
            "quota_period": plan.quota_period,
            "quota_offset": plan.quota_offset,
            "api_stages": "\n".join(plan.api_stages),
            "method_throttles": _throttle_lines(plan),
        }
        return cls(data=data, initial=initial)

    def clean_api_stages(self) -> list[str]:
        raw: str = self.cleaned_data["api_stages"]
        return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]

    def clean_method_throttles(self) -> list[MethodThrottle]:
        raw: str = self.cleaned_data.get("method_throttles") or ""
        throttles = []
        problems = []
        for number, line in enumerate(raw.splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                stage, path, rate, burst = parts
                throttles.append(MethodThrottle(stage=stage, path=path, rate=float(rate), burst=int(burst)))
            except ValueError:
                problems.append(f"Line {number}: write apiId:stage /resource/METHOD rate burst.")
        if problems:
            raise ValidationError(problems)
        return throttles

    def to_input(self) -> PlanInput:
        data = self.cleaned_data
        return PlanInput(
            name=data["name"],
            description=data.get("description") or "",
            rate_limit=data["rate_limit"],
            burst_limit=data["burst_limit"],
            quota_limit=data.get("quota_limit"),
            quota_period=data.get("quota_period") or "",
            quota_offset=data.get("quota_offset") or 0,
            api_stages=data["api_stages"],
            method_throttles=data["method_throttles"],
        )


class IssueKeyForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.none())
    plan = forms.ModelChoiceField(queryset=UsagePlan.objects.none(), label="Usage plan")
    name = forms.CharField(max_length=120, help_text="The app that will use the key, e.g. 'Optus TV app'.")
    expires_at = forms.DateTimeField(
        label="Expires at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="Optional. The dashboard warns 7 days before.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.filter(active=True).order_by("name")  # type: ignore[attr-defined]
        self.fields["plan"].queryset = UsagePlan.objects.filter(deleted_at__isnull=True).order_by("name")  # type: ignore[attr-defined]


class RotateForm(forms.Form):
    grace = forms.ChoiceField(
        label="Keep the old key working for",
        choices=GRACE_CHOICES,
        initial="24",
        widget=forms.RadioSelect,
    )

    def grace_period(self) -> timedelta:
        return timedelta(hours=int(self.cleaned_data["grace"]))


class TopUpForm(forms.Form):
    amount = forms.IntegerField(
        min_value=1,
        max_value=INT32_MAX,
        label="Extra requests",
        help_text="For the current quota period only.",
    )
    reason = forms.CharField(max_length=300, help_text="Recorded in the audit log.")


class ConfirmForm(forms.Form):
    """A POST with nothing but the CSRF token: the confirmation button itself."""
