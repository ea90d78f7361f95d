"""REST API for notifications: a user's own inbox, marking read and channel preferences (every
user, own only); each role's default channels (admins only)."""

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

from accounts.roles import Role
from portal.api.actor import api_actor
from portal.api.fields import StrictBooleanField, StrictFieldsMixin
from portal.notifications.kinds import KINDS
from portal.notifications.models import EventKind, Receipt
from portal.notifications.selectors import PreferenceRow, inbox, preferences_for, role_defaults, unread_count
from portal.notifications.services import preferences_set, receipts_mark_read, role_defaults_set

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


# --- preferences and role defaults -------------------------------------------------------------
class ChannelsSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    inbox = StrictBooleanField(required=False, help_text="In the portal (the bell and the inbox).")
    email = StrictBooleanField(required=False, help_text="One email per notification.")
    digest = StrictBooleanField(required=False, help_text="The daily digest email.")


class PreferenceRowSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # (Field.label is the stubs' str)
    opt_in = serializers.SerializerMethodField(
        help_text="Off until the user switches it on (no role default)."
    )
    channels = ChannelsSerializer(help_text="The effective channels.")
    own = ChannelsSerializer(help_text="The user's own choices (absent: the role default applies).")

    def get_opt_in(self, row: PreferenceRow) -> bool:
        return KINDS[row.kind].opt_in


class PreferencesUpdateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    kinds = serializers.DictField(
        child=ChannelsSerializer(),
        allow_empty=False,
        help_text='Per event kind, the channels to switch on or off, e.g. {"label_queue": {"email": true}}; '
        "kinds and channels left out keep their setting.",
    )

    def __init__(self, *args: Any, allowed: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = set(EventKind.values) if allowed is None else allowed

    def validate_kinds(self, value: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
        unknown = sorted(set(value) - self.allowed)
        if unknown:
            raise serializers.ValidationError(f"Unknown or not settable here: {', '.join(unknown)}.")
        return value

    def choices(self) -> dict[tuple[str, str], bool]:
        return {
            (kind, channel): enabled
            for kind, channels in self.validated_data["kinds"].items()
            for channel, enabled in channels.items()
        }


ROLE_PARAMETER = OpenApiParameter("role", OpenApiTypes.STR, OpenApiParameter.PATH, enum=Role.values)


class PreferencesView(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: PreferenceRowSerializer(many=True)},
        summary="My channels per event kind",
        operation_id="notifications_preferences",
    )
    def get(self, request: Request) -> Response:
        rows = preferences_for(user=api_actor(request))
        return Response(PreferenceRowSerializer(rows, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=PreferencesUpdateSerializer,
        responses={200: PreferenceRowSerializer(many=True)},
        summary="Switch my channels on or off per event kind",
        operation_id="notifications_preferences_update",
    )
    def patch(self, request: Request) -> Response:
        user = api_actor(request)
        serializer = PreferencesUpdateSerializer(data=request.data, allowed=set(EventKind.values))
        serializer.is_valid(raise_exception=True)
        preferences_set(user=user, choices=serializer.choices())
        return Response(PreferenceRowSerializer(preferences_for(user=user), many=True).data)


class RoleDefaultsView(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[ROLE_PARAMETER],
        responses={200: PreferenceRowSerializer(many=True), 403: OpenApiResponse(description="Admins only.")},
        summary="A role's default channels per event kind (admins)",
        operation_id="notifications_defaults",
    )
    def get(self, request: Request, role: str) -> Response:
        rows = role_defaults(user=api_actor(request))
        if role not in rows:
            raise NotFound("No such role.")
        return Response(PreferenceRowSerializer(rows[role], many=True).data)

    @extend_schema(
        tags=TAGS,
        parameters=[ROLE_PARAMETER],
        request=PreferencesUpdateSerializer,
        responses={200: PreferenceRowSerializer(many=True), 403: OpenApiResponse(description="Admins only.")},
        summary="Set a role's default channels per event kind (admins; not for opt-in kinds)",
        operation_id="notifications_defaults_update",
    )
    def patch(self, request: Request, role: str) -> Response:
        actor = api_actor(request)
        rows = role_defaults(user=actor)  # refuses non-admins (403) before reading the body
        if role not in rows:
            raise NotFound("No such role.")
        allowed = {kind for kind, entry in KINDS.items() if not entry.opt_in}
        serializer = PreferencesUpdateSerializer(data=request.data, allowed=allowed)
        serializer.is_valid(raise_exception=True)
        role_defaults_set(actor=actor, role=role, choices=serializer.choices())
        return Response(PreferenceRowSerializer(role_defaults(user=actor)[role], many=True).data)
