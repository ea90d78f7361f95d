"""REST API for images and labels: list, detail, upload, register S3 keys, decide, retry.

Thin: access first (through `accounts.access`), then parse, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import AccessDenied, Action, can, require
from content import image_selectors as sel
from content import image_services as svc
from content.image_models import ImageAsset, ImageStatus
from content.label_serializers import (
    DecisionResultSerializer,
    ImageDetailSerializer,
    ImageRegisterSerializer,
    ImageSerializer,
    ImageUploadSerializer,
    LabelDecisionSerializer,
    RetryResultSerializer,
    UploadResultSerializer,
)
from content.models import ContentItem

STATUS_PARAMETER = OpenApiParameter(
    "status",
    str,
    OpenApiParameter.QUERY,
    enum=list(ImageStatus.values),
    description="Only images in this state.",
)
CONTENT_ID_PARAMETER = OpenApiParameter(
    "content_id", str, OpenApiParameter.QUERY, description="Only images used by this content item."
)


def _require_upload(user: Any) -> None:
    if not (can(user, Action.REVIEW_LABELS) or can(user, Action.IMPORT_CONTENT)):
        raise AccessDenied(Action.REVIEW_LABELS)


def _item(content_id: str | None) -> ContentItem | None:
    if not content_id:
        return None
    item = ContentItem.objects.filter(upstream_id=content_id).first()
    if item is None:
        raise ValidationError({"content_id": [f"No content item has the id {content_id}."]})
    return item


class ImageViewSet(viewsets.GenericViewSet[ImageAsset]):
    serializer_class = ImageSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[ImageAsset]:
        qs = ImageAsset.objects.select_related("item")
        state = self.request.query_params.get("status")
        if state:
            if state not in ImageStatus.values:
                raise ValidationError({"status": [f"Choose one of {', '.join(ImageStatus.values)}."]})
            qs = qs.filter(status=state)
        content_id = self.request.query_params.get("content_id")
        if content_id:
            qs = qs.filter(item__upstream_id=content_id)
        return qs

    @extend_schema(summary="List images", parameters=[STATUS_PARAMETER, CONTENT_ID_PARAMETER])
    def list(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ImageSerializer(page, many=True).data)

    @extend_schema(
        summary="An image with its labels, moderation labels, blocks and sections",
        responses=ImageDetailSerializer,
    )
    def retrieve(self, request: Request, pk: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        try:
            review = sel.image_review(image_id=int(pk))
        except ImageAsset.DoesNotExist as exc:
            raise NotFound("No such image.") from exc
        image = review.image
        data = ImageSerializer(image).data
        data["labels"] = ImageDetailSerializer().fields["labels"].to_representation(review.labels)
        data["moderation_labels"] = (
            ImageDetailSerializer().fields["moderation_labels"].to_representation(review.moderation_labels)
        )
        data["blocks"] = ImageDetailSerializer().fields["blocks"].to_representation(review.blocks)
        data["sections"] = review.sections
        return Response(data)

    @extend_schema(
        summary="Upload images (multipart) and queue them for labelling",
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: UploadResultSerializer, 400: OpenApiResponse(description="Field errors.")},
    )
    def upload(self, request: Request) -> Response:
        _require_upload(request.user)
        files = request.FILES.getlist("files")
        body = ImageUploadSerializer(data={"files": files, "content_id": request.data.get("content_id", "")})
        body.is_valid(raise_exception=True)
        result = svc.images_upload(
            actor=request.user,  # type: ignore[arg-type]
            files=[(f.name or "upload", f) for f in body.validated_data["files"]],
            item=_item(body.validated_data.get("content_id")),
            via="api",
        )
        return Response(
            {
                "created": ImageSerializer(result.created, many=True).data,
                "existing": ImageSerializer(result.existing, many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Register images already in the images bucket (S3 keys) and queue them",
        request=ImageRegisterSerializer,
        responses={201: UploadResultSerializer, 400: OpenApiResponse(description="Field errors.")},
    )
    def register(self, request: Request) -> Response:
        _require_upload(request.user)
        body = ImageRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = svc.images_register(
            actor=request.user,  # type: ignore[arg-type]
            keys=body.validated_data["keys"],
            item=_item(body.validated_data.get("content_id")),
            via="api",
        )
        return Response(
            {
                "created": ImageSerializer(result.created, many=True).data,
                "existing": ImageSerializer(result.existing, many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Queue a failed image for labelling again",
        request=None,
        responses={202: RetryResultSerializer},
    )
    def retry(self, request: Request, pk: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        image = ImageAsset.objects.filter(pk=pk).first()
        if image is None:
            raise NotFound("No such image.")
        job = svc.label_job_retry(actor=request.user, image=image, via="api")  # type: ignore[arg-type]
        return Response({"job_id": job.pk, "state": job.state}, status=status.HTTP_202_ACCEPTED)


class LabelDecisionViewSet(viewsets.GenericViewSet[Any]):
    serializer_class = LabelDecisionSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="Approve or reject labels (atomic)",
        request=LabelDecisionSerializer,
        responses={200: DecisionResultSerializer},
    )
    def decide(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        body = LabelDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = svc.labels_decide(
            actor=request.user,  # type: ignore[arg-type]
            label_ids=body.validated_data["label_ids"],
            status=body.validated_data["status"],
            via="api",
        )
        return Response(
            {"changed": result.changed, "unchanged": result.unchanged, "image_ids": result.image_ids}
        )
