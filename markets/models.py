"""Markets (countries and partner editions) and their rules."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from markets.codes import language_error, market_code_error, timezone_error
from markets.groups.models import GROUP_PRIORITY_MAX, GroupMember, GroupRule, MarketGroup
from markets.validators import validate_match_terms
from portal.bounds import LANGUAGES_MAX, NOTE_MAX

__all__ = [
    "GROUP_PRIORITY_MAX",
    "GroupMember",
    "GroupRule",
    "Market",
    "MarketGroup",
    "Rule",
    "RuleAction",
    "Visibility",
    "validate_languages",
    "validate_market_code",
    "validate_match_terms",
    "validate_timezone",
]


def validate_market_code(value: str) -> None:
    """Raise ValidationError unless `value` is an ISO 3166-1 alpha-2 or partner-edition code."""
    error = market_code_error(value)
    if error:
        raise ValidationError(error, code="market_code")


def validate_timezone(value: str) -> None:
    """Raise ValidationError unless `value` is an IANA time zone name."""
    error = timezone_error(value)
    if error:
        raise ValidationError(error, code="timezone")


def validate_languages(value: Any) -> None:
    """Raise ValidationError unless `value` is a non-empty list of language tags."""
    if not isinstance(value, list) or not value:
        raise ValidationError("List at least one language, e.g. ['en'].", code="languages")
    if len(value) > LANGUAGES_MAX:
        raise ValidationError(f"List at most {LANGUAGES_MAX} languages.", code="languages")
    if len(set(map(str, value))) != len(value):
        raise ValidationError("List each language once.", code="languages")
    for tag in value:
        error = language_error(tag) if isinstance(tag, str) else f"{tag!r} is not a language tag."
        if error:
            raise ValidationError(error, code="languages")


class Visibility(models.TextChoices):
    VISIBLE = "visible", "Visible unless hidden"
    OPT_IN = "opt_in", "Opt-in (only shown, promoted or pinned)"


class Market(models.Model):
    code = models.CharField(max_length=32, unique=True, validators=[validate_market_code])
    name = models.CharField(max_length=120)
    languages = models.JSONField(default=list, validators=[validate_languages])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    default_visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.VISIBLE
    )
    active = models.BooleanField(default=True)
    # Grows on every change to the market or one of its rules: the `markets` shared item's version.
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def clean(self) -> None:
        # Group codes are never valid market codes (markets/codes.py); this guards the other way
        # round too, so a market and a group can never share a key in the `markets` table.
        if self.code and MarketGroup.objects.filter(code=self.code).exists():
            raise ValidationError({"code": f"{self.code} is a market group's code; choose another code."})

    @property
    def is_opt_in(self) -> bool:
        return self.default_visibility == Visibility.OPT_IN


class RuleAction(models.TextChoices):
    HIDE = "hide", "Hide"
    PROMOTE = "promote", "Promote"


class Rule(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="rules")
    action = models.CharField(max_length=16, choices=RuleAction.choices)
    boost = models.PositiveIntegerField(default=0)
    match_tags = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    match_content_types = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    match_sources = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=NOTE_MAX, validators=[MaxLengthValidator(NOTE_MAX)])
    # A binding hide rule (a legal duty: youth protection, a court order) beats editors' positions.
    # Only market managers of the market (or admins) set or clear it; never on promote rules.
    binding = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["market", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(starts_at__lt=models.F("ends_at")),
                name="rule_window_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(binding=False) | models.Q(action="hide"),
                name="rule_binding_hides_only",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market.code} rule #{self.pk}: {self.action} {self.match_summary}"

    @property
    def match_summary(self) -> str:
        parts = []
        if self.match_content_types:
            parts.append("types " + ", ".join(self.match_content_types))
        if self.match_tags:
            parts.append("tags " + ", ".join(self.match_tags))
        if self.match_sources:
            parts.append("sources " + ", ".join(self.match_sources))
        return " and ".join(parts) or "nothing"
