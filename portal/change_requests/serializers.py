"""The change request API's shapes: requests, their operations, approvals and comments."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from content.models import ContentItem
from content.serializers import GroupPositionChangeSerializer, PositionChangeSerializer
from content.services.positions import PositionChange
from markets.groups.serializers import GroupRuleWriteSerializer
from markets.models import GroupRule, Market, MarketGroup, Rule
from markets.serializers import MarketUpdateSerializer, RuleWriteSerializer
from portal.api.fields import AwareDateTimeField, StrictCharField, StrictFieldsMixin, StrictIntegerField
from portal.bounds import NOTE_MAX
from portal.change_requests.models import (
    Approval,
    ChangeOperation,
    ChangeRequest,
    Comment,
    OperationKind,
)
from portal.change_requests.services import MAX_OPERATIONS, Operation


class OperationSerializer(serializers.ModelSerializer[ChangeOperation]):
    content_id = serializers.CharField(source="item.upstream_id", read_only=True, allow_null=True)
    rule_id = serializers.IntegerField(read_only=True, allow_null=True)
    group_rule_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ChangeOperation
        fields = ["id", "kind", "content_id", "rule_id", "group_rule_id", "values", "base_version", "before"]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer[Approval]):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Approval
        fields = ["user", "created_at"]
        read_only_fields = fields


class CommentSerializer(serializers.ModelSerializer[Comment]):
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = fields


class ChangeRequestSerializer(serializers.ModelSerializer[ChangeRequest]):
    """A change request as the API shows it (operations, approvals and comments included)."""

    market = serializers.CharField(source="market.code", read_only=True, allow_null=True)
    group = serializers.CharField(source="group.code", read_only=True, allow_null=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)
    operations = OperationSerializer(many=True, read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True)

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "market",
            "group",
            "title",
            "description",
            "author",
            "state",
            "apply_at",
            "approvals_required",
            "failure_reason",
            "created_at",
            "submitted_at",
            "applied_at",
            "operations",
            "approvals",
            "comments",
        ]
        read_only_fields = fields


class OperationWriteSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """One change: `kind`, what it changes (`content_id` or `rule_id`) and its `values`.

    `values` are the fields the direct endpoint takes: a position's (PUT positions), a rule's
    (POST/PATCH rules) or the market's settings (PATCH markets).
    """

    kind = serializers.ChoiceField(choices=OperationKind.choices)
    content_id = StrictCharField(max_length=128, required=False)
    rule_id = StrictIntegerField(min_value=1, required=False)
    values = serializers.DictField(required=False, default=dict)


class ChangeRequestCreateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """A request on a `market` or on a `group` (exactly one of the two)."""

    market = StrictCharField(max_length=32, required=False)
    group = StrictCharField(max_length=32, required=False)
    title = StrictCharField(max_length=200)
    description = StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")
    apply_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    submit = serializers.BooleanField(required=False, default=False)
    operations = serializers.ListField(
        child=OperationWriteSerializer(), allow_empty=False, max_length=MAX_OPERATIONS
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("market" in attrs) == ("group" in attrs):
            raise serializers.ValidationError({"market": ["Name a market or a group (one of the two)."]})
        if "group" in attrs:
            return self._validate_group(attrs)
        market = Market.objects.filter(code=str(attrs["market"]).upper()).first()
        if market is None:
            raise serializers.ValidationError({"market": [f"There is no market {attrs['market']!r}."]})
        ops: list[Operation] = []
        errors: dict[str, Any] = {}
        content_ids = [o.get("content_id") for o in attrs["operations"] if o.get("content_id")]
        items = {i.upstream_id: i for i in ContentItem.objects.filter(upstream_id__in=content_ids)}
        rule_ids = [o.get("rule_id") for o in attrs["operations"] if o.get("rule_id")]
        rules = {
            r.pk: r for r in Rule.objects.filter(pk__in=rule_ids, market=market).select_related("market")
        }
        for index, op in enumerate(attrs["operations"]):
            try:
                ops.append(_operation(op, items, rules))
            except serializers.ValidationError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise serializers.ValidationError({"operations": errors})
        attrs["market"] = market
        attrs["group"] = None
        attrs["operations"] = ops
        return attrs

    def _validate_group(self, attrs: dict[str, Any]) -> dict[str, Any]:
        group = MarketGroup.objects.filter(code=str(attrs["group"]).strip().upper()).first()
        if group is None:
            raise serializers.ValidationError({"group": [f"There is no group {attrs['group']!r}."]})
        content_ids = [o.get("content_id") for o in attrs["operations"] if o.get("content_id")]
        items = {i.upstream_id: i for i in ContentItem.objects.filter(upstream_id__in=content_ids)}
        rule_ids = [o.get("rule_id") for o in attrs["operations"] if o.get("rule_id")]
        rules = {
            r.pk: r for r in GroupRule.objects.filter(pk__in=rule_ids, group=group).select_related("group")
        }
        ops: list[Operation] = []
        errors: dict[str, Any] = {}
        for index, op in enumerate(attrs["operations"]):
            try:
                ops.append(_group_operation(op, items, rules))
            except serializers.ValidationError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise serializers.ValidationError({"operations": errors})
        attrs["market"] = None
        attrs["group"] = group
        attrs["operations"] = ops
        return attrs


def _group_operation(
    op: dict[str, Any], items: dict[str, ContentItem], rules: dict[int, GroupRule]
) -> Operation:
    """One operation of a group request: the values the group endpoints take."""
    kind = op["kind"]
    values = op.get("values") or {}
    if kind == OperationKind.POSITION:
        item = items.get(op.get("content_id") or "")
        if item is None:
            raise serializers.ValidationError({"content_id": ["Name an existing content item."]})
        payload = GroupPositionChangeSerializer(data=values)
        payload.is_valid(raise_exception=True)
        return Operation.position(item, PositionChange(**payload.validated_data))
    if kind == OperationKind.SETTINGS:
        raise serializers.ValidationError(
            {"kind": ["A group request changes positions and rules, not settings."]}
        )
    if kind == OperationKind.RULE_CREATE:
        rule_values = GroupRuleWriteSerializer(data=values)
        rule_values.is_valid(raise_exception=True)
        return Operation.rule_create(**rule_values.validated_data)
    rule = rules.get(op.get("rule_id") or 0)
    if rule is None:
        raise serializers.ValidationError({"rule_id": ["Name a rule of this group."]})
    if kind == OperationKind.RULE_DELETE:
        return Operation.rule_delete(rule)
    partial = GroupRuleWriteSerializer(data=values, partial=True)
    partial.is_valid(raise_exception=True)
    return Operation.rule_update(rule, **partial.validated_data)


def _operation(op: dict[str, Any], items: dict[str, ContentItem], rules: dict[int, Rule]) -> Operation:
    kind = op["kind"]
    values = op.get("values") or {}
    if kind == OperationKind.POSITION:
        item = items.get(op.get("content_id") or "")
        if item is None:
            raise serializers.ValidationError({"content_id": ["Name an existing content item."]})
        payload = PositionChangeSerializer(data=values)
        payload.is_valid(raise_exception=True)
        return Operation.position(item, PositionChange(**payload.validated_data))
    if kind == OperationKind.SETTINGS:
        settings = MarketUpdateSerializer(data=values)
        settings.is_valid(raise_exception=True)
        return Operation.settings(**settings.validated_data)
    if kind == OperationKind.RULE_CREATE:
        rule_values = RuleWriteSerializer(data=values)
        rule_values.is_valid(raise_exception=True)
        return Operation.rule_create(**rule_values.validated_data)
    rule = rules.get(op.get("rule_id") or 0)
    if rule is None:
        raise serializers.ValidationError({"rule_id": ["Name a rule of this market."]})
    if kind == OperationKind.RULE_DELETE:
        return Operation.rule_delete(rule)
    partial = RuleWriteSerializer(data=values, partial=True)
    partial.is_valid(raise_exception=True)
    return Operation.rule_update(rule, **partial.validated_data)


class RejectSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    reason = StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")


class CommentWriteSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    body = StrictCharField(max_length=NOTE_MAX)


class ApprovalPolicySerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """A market's or a group's approval policy (`settings` is always false for a group)."""

    approvals_required = serializers.ChoiceField(choices=[0, 1, 2])
    rules = serializers.BooleanField(required=False, default=False)
    settings = serializers.BooleanField(required=False, default=False)
    positions = serializers.BooleanField(required=False, default=False)
    bulk_threshold = StrictIntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True, default=None
    )
