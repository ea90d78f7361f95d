"""REST API: revert one audit entry or a whole bulk change (a dry run, or for real).

The same plan and service as the portal's revert pages: the dry run lists what would be reverted,
what changed since (left alone unless its entry id is in `force`), what the caller may not revert
and what cannot be reverted at all.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.actor import api_actor
from portal.api.fields import StrictFieldsMixin, StrictIntegerField
from portal.audit.revert.selectors import RevertPlan, RevertStep, RevertTarget, revert_preview
from portal.audit.revert.services import RevertFailure, approvals_ahead, revert_apply

TAGS = ["audit"]
MAX_FORCED = 10_000


class RevertRequestSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    dry_run = serializers.BooleanField(default=False, help_text="Only say what would happen.")
    force = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        max_length=MAX_FORCED,
        default=list,
        help_text="Entry ids of objects changed since that should be reverted anyway.",
    )


class RevertEntrySerializer(serializers.Serializer[Any]):
    entry = serializers.IntegerField(help_text="The audit entry's id.")
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    market = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class RevertPlanSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField()
    will_revert = RevertEntrySerializer(many=True)
    changed_since = RevertEntrySerializer(many=True, help_text="Left alone unless forced.")
    refused = RevertEntrySerializer(many=True, help_text="You may not make these changes.")
    not_revertable = RevertEntrySerializer(many=True)
    nothing_to_do = RevertEntrySerializer(many=True)
    needs_approval = serializers.ListField(
        child=serializers.CharField(),
        help_text="Where the revert would be filed as a change request instead of applied "
        '("DE", "group DACH").',
    )


class RevertFailureSerializer(serializers.Serializer[Any]):
    entry = serializers.IntegerField()
    object = serializers.CharField()
    market = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class RevertFiledSerializer(serializers.Serializer[Any]):
    market = serializers.CharField()
    change_request = serializers.IntegerField()


class RevertResultSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField()
    reverted = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Entries with nothing left to undo.")
    skipped = RevertFailureSerializer(many=True, help_text="Changed since: left alone.")
    refused = RevertFailureSerializer(many=True)
    not_revertable = serializers.IntegerField()
    batch = serializers.CharField(allow_blank=True, help_text="The revert's own batch in the audit log.")
    change_requests = RevertFiledSerializer(
        many=True, help_text="Markets whose approval policy reviews these changes: filed as requests."
    )


def _step(step: RevertStep) -> dict[str, Any]:
    e = step.entry
    return {
        "entry": e.pk,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "market": e.market_code,
        "reason": step.reason,
    }


def _plan(plan: RevertPlan, force: list[int]) -> dict[str, Any]:
    return {
        "needs_approval": approvals_ahead(plan, force=force),
        "dry_run": True,
        "will_revert": [_step(s) for s in plan.to_revert],
        "changed_since": [_step(s) for s in plan.changed_since],
        "refused": [_step(s) for s in plan.refused],
        "not_revertable": [_step(s) for s in plan.not_revertable],
        "nothing_to_do": [_step(s) for s in plan.nothing_to_do],
    }


def _failure(f: RevertFailure) -> dict[str, Any]:
    return {"entry": f.entry_id, "object": f.object_repr, "market": f.market_code, "reason": f.reason}


class _RevertView(APIView):
    def _revert(self, request: Request, target: RevertTarget) -> Response:
        payload = RevertRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if payload.validated_data["dry_run"]:
            plan = revert_preview(user=request.user, target=target)
            return Response(_plan(plan, payload.validated_data["force"]))
        _, result = revert_apply(
            actor=api_actor(request), target=target, force=payload.validated_data["force"], via="api"
        )
        return Response(
            {
                "dry_run": False,
                "reverted": result.reverted,
                "unchanged": result.unchanged,
                "skipped": [_failure(f) for f in result.skipped],
                "refused": [_failure(f) for f in result.refused],
                "not_revertable": result.not_revertable,
                "batch": result.batch,
                "change_requests": [{"market": code, "change_request": pk} for code, pk in result.requests],
            }
        )


_RESPONSES = {
    200: OpenApiResponse(
        description="With `dry_run`, the plan; otherwise what was done.",
        response=PolymorphicProxySerializer(
            component_name="RevertAnswer",
            serializers=[RevertPlanSerializer, RevertResultSerializer],
            resource_type_field_name=None,
        ),
    ),
    400: OpenApiResponse(description="Field errors; nothing reverted."),
    403: OpenApiResponse(description="You may not read the audit log."),
    404: OpenApiResponse(description="No such entry or batch in your markets."),
}


class EntryRevertView(_RevertView):
    @extend_schema(
        tags=TAGS,
        summary="Revert one change from the audit log (or dry-run it)",
        operation_id="audit_entry_revert",
        request=RevertRequestSerializer,
        responses=_RESPONSES,
    )
    def post(self, request: Request, entry_id: int) -> Response:
        return self._revert(request, RevertTarget(entry_id=entry_id))


class BatchRevertView(_RevertView):
    @extend_schema(
        tags=TAGS,
        summary="Revert a whole bulk change from the audit log (or dry-run it)",
        operation_id="audit_batch_revert",
        request=RevertRequestSerializer,
        responses=_RESPONSES,
    )
    def post(self, request: Request, batch: uuid.UUID) -> Response:
        return self._revert(request, RevertTarget(batch=batch))
