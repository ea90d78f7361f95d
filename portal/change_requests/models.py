"""Approval policies, change requests, their operations, approvals and comments."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from portal.bounds import NOTE_MAX


class ApprovalPolicy(models.Model):
    """What needs approval in one market or one market group, and how many approvals.

    Exactly one of `market` and `group` is set. A market's own changes follow its policy; a group's
    changes follow the strictest of the group's policy and the policies of the members that would
    review such a change (services.group_approvals_needed).
    """

    market = models.OneToOneField(
        "markets.Market", null=True, blank=True, on_delete=models.CASCADE, related_name="approval_policy"
    )
    group = models.OneToOneField(
        "markets.MarketGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="approval_policy"
    )
    # 0: changes apply directly; 1 or 2: that many approvals by someone other than the author.
    approvals_required = models.PositiveSmallIntegerField(default=0)
    rules = models.BooleanField(default=False)
    settings = models.BooleanField(default=False)
    positions = models.BooleanField(default=False)
    # Bulk position changes touching more than this many positions need approval (None: never).
    bulk_threshold = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "portal"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approvals_required__lte=2), name="policy_at_most_two_approvals"
            ),
            models.CheckConstraint(
                condition=models.Q(market__isnull=False, group__isnull=True)
                | models.Q(market__isnull=True, group__isnull=False),
                name="policy_market_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval policy of {self.market or self.group}"


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    FAILED = "failed", "Failed"


OPEN_STATES = (RequestState.DRAFT, RequestState.SUBMITTED, RequestState.APPROVED, RequestState.FAILED)


class ChangeRequest(models.Model):
    """A set of changes to one market, or to one market group (exactly one of the two), that
    applies only once approved (at `apply_at`, if given)."""

    market = models.ForeignKey(
        "markets.Market", null=True, blank=True, on_delete=models.CASCADE, related_name="change_requests"
    )
    group = models.ForeignKey(
        "markets.MarketGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="change_requests"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=NOTE_MAX)
    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="change_requests"
    )
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.DRAFT)
    apply_at = models.DateTimeField(null=True, blank=True)
    # Taken from the market's policy when submitted (a later policy change does not move the goal).
    approvals_required = models.PositiveSmallIntegerField(default=1)
    failure_reason = models.TextField(blank=True)
    # Which kinds of change it holds: who may approve it, and whose review queue it is in.
    touches_positions = models.BooleanField(default=False)
    touches_rules = models.BooleanField(default=False)
    touches_settings = models.BooleanField(default=False)
    via = models.CharField(max_length=16, default="portal")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "portal"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "apply_at"], name="cr_state_due_idx"),
            models.Index(fields=["market", "state"], name="cr_market_state_idx"),
            models.Index(fields=["author", "state"], name="cr_author_state_idx"),
            models.Index(fields=["group", "state"], name="cr_group_state_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(market__isnull=False, group__isnull=True)
                | models.Q(market__isnull=True, group__isnull=False),
                name="request_market_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_group(self) -> bool:
        return self.group_id is not None

    @property
    def scope_code(self) -> str:
        """The market's code, or the group's."""
        if self.group_id is not None and self.group is not None:
            return self.group.code
        return self.market.code if self.market is not None else ""

    @property
    def scope_timezone(self) -> str:
        """Where its times are entered and shown: the market's zone; UTC for a group (as group windows)."""
        return self.market.timezone if self.market is not None and self.group_id is None else "UTC"


class OperationKind(models.TextChoices):
    POSITION = "position", "Position"
    RULE_CREATE = "rule_create", "New rule"
    RULE_UPDATE = "rule_update", "Rule change"
    RULE_DELETE = "rule_delete", "Rule deletion"
    SETTINGS = "settings", "Market settings"


class ChangeOperation(models.Model):
    """One change in a request, with the version of the object it was made from (its base)."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    item = models.ForeignKey("content.ContentItem", null=True, blank=True, on_delete=models.CASCADE)
    rule = models.ForeignKey("markets.Rule", null=True, blank=True, on_delete=models.SET_NULL)
    # A group request's rule operations name a group rule instead.
    group_rule = models.ForeignKey(
        "markets.GroupRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The values the change sets (JSON-safe: datetimes as ISO text).
    values = models.JSONField(default=dict)
    # The object's version when the request was made or last refreshed (0: no position yet).
    base_version = models.PositiveBigIntegerField(null=True, blank=True)
    # The object's values at that version, for the diff.
    before = models.JSONField(null=True, blank=True)

    class Meta:
        app_label = "portal"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} in request #{self.request_id}"


class Approval(models.Model):
    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "portal"
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="approval_once_per_user")]


class Comment(models.Model):
    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=NOTE_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "portal"
        ordering = ["created_at", "id"]
