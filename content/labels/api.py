"""REST API for images and labels: list, detail, upload, register S3 keys, decide, retry; sections,
their label mappings and admission preview, confidence bands, per-market moderation policies.

Thin: access first (through `accounts.access`), then parse, call one service or selector, render.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import AccessDenied, Action, can, require
from content.labels import selectors as sel
from content.labels import services as svc
from content.labels.models import ImageAsset, ImageStatus, MarketModerationPolicy, Section, SectionMapping
from content.labels.serializers import (
    AdmissionQuerySerializer,
    AdmissionSerializer,
    BandsSerializer,
    BandsWriteSerializer,
    DecisionResultSerializer,
    ImageDetailSerializer,
    ImageRegisterSerializer,
    ImageSerializer,
    ImageUploadSerializer,
    LabelDecisionSerializer,
    MappingCreateSerializer,
    MappingUpdateSerializer,
    ModerationPolicyCreateSerializer,
    ModerationPolicySerializer,
    ModerationPolicyUpdateSerializer,
    RetryResultSerializer,
    SectionMappingSerializer,
    SectionSerializer,
    SectionWriteSerializer,
    UploadResultSerializer,
)
from content.models import ContentItem
from markets.api import MARKET_CODE_PARAMETER, market_or_404
from portal.api.actor import api_actor
from portal.api.pagination import DefaultCursorPagination
from portal.api.parsers import BoundedJSONParser

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
        # A JSON list or string body has no fields to read: it fails validation as "no files".
        fields = request.data if hasattr(request.data, "get") else {}
        body = ImageUploadSerializer(data={"files": files, "content_id": fields.get("content_id", "")})
        body.is_valid(raise_exception=True)
        result = svc.images_upload(
            actor=api_actor(request),
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
            actor=api_actor(request),
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
        job = svc.label_job_retry(actor=api_actor(request), image=image, via="api")
        return Response({"job_id": job.pk, "state": job.state}, status=status.HTTP_202_ACCEPTED)


class LabelDecisionViewSet(viewsets.GenericViewSet[Any]):
    serializer_class = LabelDecisionSerializer
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]

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
            actor=api_actor(request),
            label_ids=body.validated_data["label_ids"],
            status=body.validated_data["status"],
            via="api",
        )
        return Response(
            {"changed": result.changed, "unchanged": result.unchanged, "image_ids": result.image_ids}
        )


# --- sections, mappings, admission, bands, moderation policies --------------------------------
# Access first (Action.REVIEW_LABELS for sections and bands, Action.EDIT_MARKET_SETTINGS in the
# market for its moderation policies), so a caller without the role learns 403 and nothing else.

SECTION_TAGS = ["label sections"]
MODERATION_TAGS = ["moderation policies"]
FIELD_ERRORS = OpenApiResponse(description="Field errors; nothing changed.")
UNAUTHENTICATED = OpenApiResponse(description="No valid token or session.")
NOT_REVIEWER = OpenApiResponse(description="Only reviewers and admins work with sections and bands.")
NOT_MARKET_MANAGER = OpenApiResponse(description="Only the market's managers and admins edit its moderation.")
NO_SECTION = OpenApiResponse(description="No such section (or mapping in it).")
NO_POLICY = OpenApiResponse(description="No such market (or policy in it).")
SECTION_ID_PARAMETER = OpenApiParameter("section_id", OpenApiTypes.INT, OpenApiParameter.PATH)
MAPPING_ID_PARAMETER = OpenApiParameter("mapping_id", OpenApiTypes.INT, OpenApiParameter.PATH)
POLICY_ID_PARAMETER = OpenApiParameter("policy_id", OpenApiTypes.INT, OpenApiParameter.PATH)


def _section(section_id: int) -> Section:
    try:
        return sel.section_get(section_id=section_id)
    except Section.DoesNotExist:
        raise NotFound(f"There is no section {section_id}.") from None


def _section_response(section_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    try:
        section = sel.section_with_count(section_id=section_id)
    except Section.DoesNotExist:
        raise NotFound(f"There is no section {section_id}.") from None
    return Response(SectionSerializer(section).data, status=status_code)


class SectionCursorPagination(DefaultCursorPagination):
    ordering = "name"


class SectionListView(GenericAPIView[Section]):
    serializer_class = SectionSerializer
    pagination_class = SectionCursorPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Section]:
        return sel.sections_with_counts()

    @extend_schema(
        tags=SECTION_TAGS,
        summary="List sections with their label mappings, own bands and image counts",
        responses={200: SectionSerializer(many=True), 401: UNAUTHENTICATED, 403: NOT_REVIEWER},
    )
    def get(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SectionSerializer(page, many=True).data)

    @extend_schema(
        tags=SECTION_TAGS,
        summary="Create a section",
        request=SectionWriteSerializer,
        responses={201: SectionSerializer, 400: FIELD_ERRORS, 401: UNAUTHENTICATED, 403: NOT_REVIEWER},
    )
    def post(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        body = SectionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        section = svc.section_create(actor=api_actor(request), name=body.validated_data["name"], via="api")
        return _section_response(section.pk, status.HTTP_201_CREATED)


@extend_schema(tags=SECTION_TAGS, parameters=[SECTION_ID_PARAMETER])
class SectionDetailView(APIView):
    @extend_schema(
        summary="Read a section",
        responses={200: SectionSerializer, 401: UNAUTHENTICATED, 403: NOT_REVIEWER, 404: NO_SECTION},
    )
    def get(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        return _section_response(section_id)

    @extend_schema(
        summary="Rename a section",
        description="Its images get a new version: their shared item names the section.",
        request=SectionWriteSerializer,
        responses={
            200: SectionSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def patch(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        section = _section(section_id)
        body = SectionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        svc.section_rename(
            actor=api_actor(request), section=section, name=body.validated_data["name"], via="api"
        )
        return _section_response(section_id)

    @extend_schema(
        summary="Delete a section with its mappings and bands",
        description="Its images leave it and get a new version.",
        responses={204: None, 401: UNAUTHENTICATED, 403: NOT_REVIEWER, 404: NO_SECTION},
    )
    def delete(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        svc.section_delete(actor=api_actor(request), section=_section(section_id), via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=SECTION_TAGS, parameters=[SECTION_ID_PARAMETER])
class SectionMappingListView(APIView):
    @extend_schema(
        summary="List a section's label mappings",
        responses={
            200: SectionMappingSerializer(many=True),
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def get(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        section = _section(section_id)
        return Response(SectionMappingSerializer(section.mappings.all(), many=True).data)

    @extend_schema(
        summary="Map a label to the section at a minimum confidence",
        description=(
            "Images with the label approved at `min_confidence` or more join the section and get a "
            "new version. A label the section already maps is refused (400): change it with PATCH."
        ),
        request=MappingCreateSerializer,
        responses={
            201: SectionMappingSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def post(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        section = _section(section_id)
        body = MappingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mapping = svc.section_mapping_add(
            actor=api_actor(request), section=section, via="api", **body.validated_data
        )
        return Response(SectionMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=SECTION_TAGS, parameters=[SECTION_ID_PARAMETER, MAPPING_ID_PARAMETER])
class SectionMappingDetailView(APIView):
    def _mapping(self, section_id: int, mapping_id: int) -> SectionMapping:
        try:
            return sel.section_mapping_get(section=_section(section_id), mapping_id=mapping_id)
        except SectionMapping.DoesNotExist:
            raise NotFound(f"Section {section_id} has no mapping {mapping_id}.") from None

    @extend_schema(
        summary="Change a mapping's minimum confidence",
        description="Images that join or leave the section get a new version.",
        request=MappingUpdateSerializer,
        responses={
            200: SectionMappingSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def patch(self, request: Request, section_id: int, mapping_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        mapping = self._mapping(section_id, mapping_id)
        body = MappingUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mapping = svc.section_mapping_set(
            actor=api_actor(request),
            section=mapping.section,
            label_name=mapping.label_name,
            min_confidence=body.validated_data["min_confidence"],
            via="api",
        )
        return Response(SectionMappingSerializer(mapping).data)

    @extend_schema(
        summary="Remove a label from the section",
        description="Images that leave the section get a new version.",
        responses={204: None, 401: UNAUTHENTICATED, 403: NOT_REVIEWER, 404: NO_SECTION},
    )
    def delete(self, request: Request, section_id: int, mapping_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        svc.section_mapping_delete(
            actor=api_actor(request), mapping=self._mapping(section_id, mapping_id), via="api"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SectionAdmissionView(APIView):
    @extend_schema(
        tags=SECTION_TAGS,
        summary="How many images a label threshold would admit to the section (read-only)",
        description=(
            "`count` is the number of images with `label` approved at `min_confidence` or more; "
            "`section_then` is the section's size if the section mapped the label at that threshold."
        ),
        parameters=[SECTION_ID_PARAMETER, AdmissionQuerySerializer],
        responses={
            200: AdmissionSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def get(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        section = _section(section_id)
        query = AdmissionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        admission = sel.section_admission(
            section=section,
            label_name=query.validated_data["label"],
            min_confidence=query.validated_data["min_confidence"],
        )
        return Response(
            AdmissionSerializer(
                {**asdict(admission), "section_id": section.pk, "difference": admission.difference}
            ).data
        )


def _bands_response(section: Section | None) -> Response:
    return Response(BandsSerializer(sel.label_bands_get(section=section)).data)


def _bands_put(request: Request, section: Section | None) -> Response:
    body = BandsWriteSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    svc.bands_set(actor=api_actor(request), section=section, via="api", **body.validated_data)
    return _bands_response(section)


BANDS_PUT_SUMMARY = "Set the confidence bands"
BANDS_PUT_DESCRIPTION = (
    "New labelling results are banded by the new thresholds; labels already pending stay pending "
    "unless `apply_to_pending` is true."
)


class GlobalBandsView(APIView):
    @extend_schema(
        tags=SECTION_TAGS,
        summary="Read the global confidence bands",
        responses={200: BandsSerializer, 401: UNAUTHENTICATED, 403: NOT_REVIEWER},
    )
    def get(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        return _bands_response(None)

    @extend_schema(
        tags=SECTION_TAGS,
        summary=BANDS_PUT_SUMMARY,
        description=BANDS_PUT_DESCRIPTION,
        request=BandsWriteSerializer,
        responses={200: BandsSerializer, 400: FIELD_ERRORS, 401: UNAUTHENTICATED, 403: NOT_REVIEWER},
    )
    def put(self, request: Request) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        return _bands_put(request, None)


@extend_schema(tags=SECTION_TAGS, parameters=[SECTION_ID_PARAMETER])
class SectionBandsView(APIView):
    @extend_schema(
        summary="Read the confidence bands of labels mapped to a section (its own, else the global ones)",
        responses={200: BandsSerializer, 401: UNAUTHENTICATED, 403: NOT_REVIEWER, 404: NO_SECTION},
    )
    def get(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        return _bands_response(_section(section_id))

    @extend_schema(
        summary=BANDS_PUT_SUMMARY,
        description=BANDS_PUT_DESCRIPTION,
        request=BandsWriteSerializer,
        responses={
            200: BandsSerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_REVIEWER,
            404: NO_SECTION,
        },
    )
    def put(self, request: Request, section_id: int) -> Response:
        require(request.user, Action.REVIEW_LABELS)
        return _bands_put(request, _section(section_id))


@extend_schema(tags=MODERATION_TAGS, parameters=[MARKET_CODE_PARAMETER])
class ModerationPolicyListView(APIView):
    @extend_schema(
        summary="List a market's moderation policies",
        responses={
            200: ModerationPolicySerializer(many=True),
            401: UNAUTHENTICATED,
            403: NOT_MARKET_MANAGER,
            404: NO_POLICY,
        },
    )
    def get(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_MARKET_SETTINGS)
        return Response(ModerationPolicySerializer(sel.market_policies(market=market), many=True).data)

    @extend_schema(
        summary="Block a moderation category in the market from a confidence on",
        description=(
            "Images whose label in the category (taxonomy levels 1–2) reaches `block_at` are blocked "
            "in the market and get a new version. A category the market already moderates is "
            "refused (400): change it with PATCH."
        ),
        request=ModerationPolicyCreateSerializer,
        responses={
            201: ModerationPolicySerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_MARKET_MANAGER,
            404: NO_POLICY,
        },
    )
    def post(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_MARKET_SETTINGS)
        body = ModerationPolicyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = svc.moderation_policy_add(
            actor=api_actor(request), market=market, via="api", **body.validated_data
        )
        return Response(ModerationPolicySerializer(policy).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=MODERATION_TAGS, parameters=[MARKET_CODE_PARAMETER, POLICY_ID_PARAMETER])
class ModerationPolicyDetailView(APIView):
    def _policy(self, request: Request, code: str, policy_id: int) -> MarketModerationPolicy:
        market = market_or_404(request, code, Action.EDIT_MARKET_SETTINGS)
        try:
            return sel.market_policy_get(market=market, policy_id=policy_id)
        except MarketModerationPolicy.DoesNotExist:
            raise NotFound(f"{market.code} has no moderation policy {policy_id}.") from None

    @extend_schema(
        summary="Read a moderation policy",
        responses={
            200: ModerationPolicySerializer,
            401: UNAUTHENTICATED,
            403: NOT_MARKET_MANAGER,
            404: NO_POLICY,
        },
    )
    def get(self, request: Request, code: str, policy_id: int) -> Response:
        return Response(ModerationPolicySerializer(self._policy(request, code, policy_id)).data)

    @extend_schema(
        summary="Change a moderation policy's threshold",
        description="The category cannot change: delete the policy and add another.",
        request=ModerationPolicyUpdateSerializer,
        responses={
            200: ModerationPolicySerializer,
            400: FIELD_ERRORS,
            401: UNAUTHENTICATED,
            403: NOT_MARKET_MANAGER,
            404: NO_POLICY,
        },
    )
    def patch(self, request: Request, code: str, policy_id: int) -> Response:
        policy = self._policy(request, code, policy_id)
        body = ModerationPolicyUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = svc.moderation_policy_set(
            actor=api_actor(request),
            market=policy.market,
            category=policy.category,
            block_at=body.validated_data["block_at"],
            via="api",
        )
        return Response(ModerationPolicySerializer(policy).data)

    @extend_schema(
        summary="Stop blocking the policy's category in the market",
        description="Images it blocked are unblocked there and get a new version.",
        responses={204: None, 401: UNAUTHENTICATED, 403: NOT_MARKET_MANAGER, 404: NO_POLICY},
    )
    def delete(self, request: Request, code: str, policy_id: int) -> Response:
        svc.moderation_policy_delete(
            actor=api_actor(request), policy=self._policy(request, code, policy_id), via="api"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
