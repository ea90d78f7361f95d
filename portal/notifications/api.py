"""REST API for a user's own notifications: the inbox and marking read (every user, own only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.actor import api_actor
from portal.notifications.models import EventKind, Receipt
from portal.notifications.selectors import inbox, unread_count
from portal.notifications.services import receipts_mark_read

TAGS = ["notifications"]


class NotificationSerializer(serializers.ModelSerializer[Receipt]):
    kind = serializers.CharField(source="notification.kind")
    title = serializers.CharField(source="notification.title")
    body = serializers.CharField(source="notification.body")
    severity = serializers.CharField(source="notification.severity")
    link = serializers.CharField(source="notification.link", help_text="The portal page that resolves it.")
    market = serializers.CharField(source="notification.market.code", allow_null=True, default=None)
    created_at = serializers.DateTimeField(source="notification.created_at")

    class Meta:
        model = Receipt
        fields = ["id", "kind", "title", "body", "severity", "link", "market", "created_at", "read_at"]
        read_only_fields = fields


class MarkedSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="Notifications marked read.")
    unread = serializers.IntegerField(help_text="Unread notifications left.")


class NotificationListView(generics.ListAPIView[Receipt]):
    serializer_class = NotificationSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        tags=TAGS,
        summary="My notifications, newest first",
        operation_id="notifications_list",
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only unread ones."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=EventKind.values, description="Only this event."),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Receipt]:
        params = self.request.query_params
        kind = params.get("kind", "")
        return inbox(
            user=self.request.user,
            unread_only=params.get("unread", "").lower() in ("1", "true"),
            kind=kind if kind in EventKind.values else "",
        )


class NotificationReadView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: MarkedSerializer, 404: OpenApiResponse(description="Not one of your notifications.")},
        summary="Mark one of my notifications read",
        operation_id="notifications_read",
    )
    def post(self, request: Request, pk: int) -> Response:
        user = api_actor(request)
        if not inbox(user=user).filter(pk=pk).exists():
            raise NotFound("You have no such notification.")
        marked = receipts_mark_read(user=user, receipt_ids=[pk])
        return Response({"marked": marked, "unread": unread_count(user=user)})


class NotificationReadAllView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: MarkedSerializer},
        summary="Mark all my notifications read",
        operation_id="notifications_read_all",
    )
    def post(self, request: Request) -> Response:
        user = api_actor(request)
        marked = receipts_mark_read(user=user)
        return Response({"marked": marked, "unread": unread_count(user=user)})
