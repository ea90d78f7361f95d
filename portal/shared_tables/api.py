"""REST API for the publishing pipeline: its status, the dead letters, retrying them (admins only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import require
from portal.api.actor import api_actor
from portal.shared_tables.models import OutboxEntry
from portal.shared_tables.selectors import dead_letters, publish_status
from portal.shared_tables.services import PUBLISHING_ACTION, dead_letters_retry

MAX_RETRY_IDS = 10_000
TAGS = ["publishing"]


class PublishStatusSerializer(serializers.Serializer[Any]):
    pending = serializers.IntegerField(help_text="Outbox rows waiting to be published.")
    dead = serializers.IntegerField(help_text="Dead letters: rows that failed after every retry.")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True, help_text="The latest error among open rows.")
    last_error_at = serializers.DateTimeField(allow_null=True)
    paused = serializers.BooleanField(help_text="On-commit publishing is paused after an outage.")


class DeadLetterSerializer(serializers.ModelSerializer[OutboxEntry]):
    class Meta:
        model = OutboxEntry
        fields = ["id", "kind", "key", "version", "attempts", "last_error", "created_at"]
        read_only_fields = fields


class DeadLetterRetryRequestSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=MAX_RETRY_IDS,
        help_text="Dead letters to retry; leave out and send all=true to retry every one.",
    )
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("ids")) == bool(attrs.get("all")):
            raise serializers.ValidationError({"ids": ["Send either ids or all=true."]})
        return attrs


class DeadLetterRetryResultSerializer(serializers.Serializer[Any]):
    queued = serializers.IntegerField(help_text="Dead letters queued again for publishing.")


class PublishStatusView(APIView):
    @extend_schema(
        tags=TAGS,
        responses=PublishStatusSerializer,
        summary="Publishing status",
        operation_id="publishing_status",
    )
    def get(self, request: Request) -> Response:
        require(request.user, PUBLISHING_ACTION)
        return Response(PublishStatusSerializer(publish_status()).data)


class DeadLetterListView(generics.ListAPIView[OutboxEntry]):
    serializer_class = DeadLetterSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        tags=TAGS, summary="Dead letters, newest first", operation_id="publishing_dead_letters_list"
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[OutboxEntry]:
        require(self.request.user, PUBLISHING_ACTION)
        return dead_letters()


class DeadLetterRetryView(APIView):
    @extend_schema(
        tags=TAGS,
        request=DeadLetterRetryRequestSerializer,
        responses={200: DeadLetterRetryResultSerializer},
        summary="Retry dead letters (some or all)",
        operation_id="publishing_dead_letters_retry",
    )
    def post(self, request: Request) -> Response:
        require(request.user, PUBLISHING_ACTION)
        body = DeadLetterRetryRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = None if body.validated_data.get("all") else body.validated_data["ids"]
        queued = dead_letters_retry(actor=api_actor(request), entry_ids=ids, via="api")
        return Response({"queued": queued})


class DeadLetterRetryOneView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: DeadLetterRetryResultSerializer,
            404: OpenApiResponse(description="Not a dead letter."),
        },
        summary="Retry one dead letter",
        operation_id="publishing_dead_letter_retry",
    )
    def post(self, request: Request, pk: int) -> Response:
        require(request.user, PUBLISHING_ACTION)
        queued = dead_letters_retry(actor=api_actor(request), entry_ids=[pk], via="api")
        if not queued:
            raise NotFound(f"Outbox row {pk} is not a dead letter.")
        return Response({"queued": queued}, status=status.HTTP_200_OK)
