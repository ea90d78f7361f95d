"""Market groups (EU, DACH, OPTUS-PARTNERS…): members, priority and the group's own rules.

A group owns rules and item positions like a market (never pins). Its rules live in
`GroupRule`, a table of its own next to `Rule` (docs/decisions/017-market-groups.md says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.db import models

from markets.codes import group_code_error
from markets.validators import validate_match_terms
from portal.bounds import NOTE_MAX

if TYPE_CHECKING:
    from markets.models import Market

__all__ = ["GROUP_PRIORITY_MAX", "GroupMember", "GroupRule", "MarketGroup", "validate_group_code"]

GROUP_PRIORITY_MAX = 1000


def validate_group_code(value: str) -> None:
    """Raise ValidationError unless `value` is a group code (and could never be a market code)."""
    error = group_code_error(value)
    if error:
        raise ValidationError(error, code="group_code")


class MarketGroup(models.Model):
    """A named set of markets whose rules and positions apply to every member."""

    code = models.CharField(max_length=32, unique=True, validators=[validate_group_code])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=NOTE_MAX, validators=[MaxLengthValidator(NOTE_MAX)])
    # A lower number is stronger: between two groups of a market, the lower one decides first.
    priority = models.PositiveIntegerField(default=100, validators=[MaxValueValidator(GROUP_PRIORITY_MAX)])
    # A retired group is kept (its history and shared item stay) but decides nothing.
    active = models.BooleanField(default=True)
    members: models.ManyToManyField[Market, GroupMember] = models.ManyToManyField(
        "markets.Market", through="GroupMember", related_name="market_groups", blank=True
    )
    # Grows on every change to the group, its members or its rules: its `markets` shared item.
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class GroupMember(models.Model):
    """One market's membership of one group."""

    group = models.ForeignKey(MarketGroup, on_delete=models.CASCADE, related_name="member_links")
    market = models.ForeignKey("markets.Market", on_delete=models.CASCADE, related_name="group_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "market"]
        constraints = [models.UniqueConstraint(fields=["group", "market"], name="groupmember_unique")]

    def __str__(self) -> str:
        return f"{self.market_id} in {self.group_id}"


class GroupRule(models.Model):
    """A hide or promote rule of a group: the same fields and checks as a market's `Rule`."""

    group = models.ForeignKey(MarketGroup, on_delete=models.CASCADE, related_name="rules")
    action = models.CharField(max_length=16, choices=[("hide", "Hide"), ("promote", "Promote")])
    boost = models.PositiveIntegerField(default=0)
    match_tags = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    match_content_types = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    match_sources = models.JSONField(default=list, blank=True, validators=[validate_match_terms])
    # A binding hide rule (a legal duty) beats every position in every member (DESIGN step 1).
    binding = models.BooleanField(default=False)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=NOTE_MAX, validators=[MaxLengthValidator(NOTE_MAX)])
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(starts_at__lt=models.F("ends_at")),
                name="grouprule_window_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(binding=False) | models.Q(action="hide"),
                name="grouprule_binding_hides",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group.code} rule #{self.pk}: {self.action} {self.match_summary}"

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
