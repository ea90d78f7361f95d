"""The label review UI: queue, image review, sections, bands, moderation policies, uploads, jobs.

Views parse input, call one service or selector, and render. Access is checked through
`accounts.access` (services check again); `portal_view` turns AccessDenied into the styled 403.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import AccessDenied, Action, can, markets_for, require
from content.labels import selectors as sel
from content.labels import services as svc
from content.labels.forms import (
    ApproveAtLeastForm,
    BandsForm,
    MappingForm,
    PolicyForm,
    QueueFilterForm,
    SectionForm,
    UploadForm,
)
from content.labels.models import (
    ImageAsset,
    ImageLabel,
    LabelStatus,
    MarketModerationPolicy,
    Section,
    SectionMapping,
)
from content.models import ContentItem
from markets.models import Market
from portal.pages import actor_of, is_htmx, portal_view, safe_next
from portal.submit_once import submit_once

QUEUE_PAGE_SIZE = 48


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def _queue_query(request: HttpRequest) -> str:
    keys = ("label", "category", "min_confidence", "max_confidence", "status", "model_version", "reviewer")
    return urlencode({k: request.GET[k] for k in keys if request.GET.get(k)})


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(safe_next(request, request.POST.get("next"), fallback))


# --- queue and review ------------------------------------------------------------------------


@portal_view
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Images with labels to review, least confident first, filtered, in a thumbnail grid."""
    require(request.user, Action.REVIEW_LABELS)
    form = QueueFilterForm(request.GET or None)
    filters = form.to_filters() if request.GET else sel.QueueFilters()
    page = Paginator(sel.review_queue(filters=filters), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "labels/queue.html",
        {
            "form": form,
            "page": page,
            "query": _queue_query(request),
            "label_names": sel.label_names(limit=200),
            "categories": sel.label_categories(),
            "model_versions": sel.model_versions(),
        },
    )


@portal_view
@require_GET
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    """One image with its boxes, labels, decisions, moderation labels, blocks and sections."""
    require(request.user, Action.REVIEW_LABELS)
    try:
        review = sel.image_review(image_id=image_id)
    except ImageAsset.DoesNotExist as exc:
        raise Http404("No such image.") from exc
    form = QueueFilterForm(request.GET or None)
    filters = form.to_filters() if request.GET else sel.QueueFilters()
    following = sel.queue_next(filters=filters, image=review.image)
    return render(
        request,
        "labels/image.html",
        {
            "review": review,
            "next_image": following,
            "query": _queue_query(request),
            "approve_form": ApproveAtLeastForm(),
        },
    )


def _label_row(request: HttpRequest, label: ImageLabel) -> HttpResponse:
    review = sel.image_review(image_id=label.image_id)
    fresh = next(item for item in review.labels if item.pk == label.pk)
    return render(request, "labels/_label_row.html", {"label": fresh, "review": review, "oob": True})


@portal_view
@require_POST
def decide(request: HttpRequest, label_id: int, decision: str) -> HttpResponse:
    """Approve or reject one label; HTMX gets the row back (and the image's sections, out of band)."""
    label = get_object_or_404(ImageLabel, pk=label_id)
    status = {"approve": LabelStatus.APPROVED, "reject": LabelStatus.REJECTED}.get(decision)
    if status is None:
        raise Http404("Unknown decision.")
    try:
        svc.labels_decide(actor=actor_of(request), label_ids=[label.pk], status=status)
    except ValidationError as exc:
        if is_htmx(request):
            return HttpResponse(_errors(exc), status=400)
        messages.error(request, _errors(exc))
    if is_htmx(request):
        return _label_row(request, label)
    return _back(request, reverse("labels:image", args=[label.image_id]))


@portal_view
@require_POST
def approve_at_least(request: HttpRequest, image_id: int) -> HttpResponse:
    """Approve every pending label of the image at or above the given confidence."""
    image = get_object_or_404(ImageAsset, pk=image_id)
    try:
        result = svc.labels_approve_at_least(
            actor=actor_of(request),
            image=image,
            min_confidence=request.POST.get("min_confidence"),
        )
        messages.success(request, f"Approved {result.changed} label(s).")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, reverse("labels:image", args=[image.pk]))


@portal_view
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject every pending label of the selected images."""
    require(request.user, Action.REVIEW_LABELS)
    status = {"approve": LabelStatus.APPROVED, "reject": LabelStatus.REJECTED}.get(
        request.POST.get("decision", "")
    )
    try:
        ids = [int(i) for i in request.POST.getlist("image_ids")]
        result = svc.images_decide_pending(
            actor=actor_of(request),
            image_ids=ids,
            status=status or "",
        )
        verb = "Approved" if status == LabelStatus.APPROVED else "Rejected"
        messages.success(request, f"{verb} {result.changed} label(s) on {len(result.image_ids)} image(s).")
    except ValueError:
        messages.error(request, "The selection was not understood.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, reverse("labels:queue"))


@portal_view
@require_POST
def retry(request: HttpRequest, image_id: int) -> HttpResponse:
    """Queue a failed image for labelling again."""
    image = get_object_or_404(ImageAsset, pk=image_id)
    try:
        svc.label_job_retry(actor=actor_of(request), image=image)
        messages.success(request, f"{image} is queued for labelling again.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, reverse("labels:jobs"))


@portal_view
@require_GET
def image_file(request: HttpRequest, image_id: int, kind: str) -> HttpResponseBase:
    """Serve an image rendition: S3 gets a short-lived signed redirect, local files stream."""
    if not any(
        can(request.user, a) for a in (Action.REVIEW_LABELS, Action.EDIT_MARKET_SETTINGS, Action.VIEW_CONTENT)
    ):
        raise AccessDenied(Action.REVIEW_LABELS)
    image = get_object_or_404(ImageAsset, pk=image_id)
    field = {"thumb": image.thumbnail, "preview": image.preview, "original": image.file}.get(kind)
    if field is None or not field.name:
        raise Http404("No such rendition.")
    url = default_storage.url(field.name)
    if url.startswith(("http://", "https://")):
        return HttpResponseRedirect(url)
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    content_type = "image/jpeg" if kind != "original" else image.content_type
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- uploads and jobs ------------------------------------------------------------------------


@portal_view
@submit_once
def upload(request: HttpRequest) -> HttpResponse:
    """Upload one or many images; each is validated before anything is stored or labelled."""
    if not (can(request.user, Action.REVIEW_LABELS) or can(request.user, Action.IMPORT_CONTENT)):
        raise AccessDenied(Action.REVIEW_LABELS)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        item = None
        content_id = form.cleaned_data["content_id"].strip()
        if content_id:
            item = ContentItem.objects.filter(upstream_id=content_id).first()
            if item is None:
                form.add_error("content_id", f"No content item has the id {content_id}.")
        if not form.errors:
            try:
                result = svc.images_upload(
                    actor=actor_of(request),
                    files=[(f.name, f) for f in form.cleaned_data["images"]],
                    item=item,
                )
            except ValidationError as exc:
                for message in exc.message_dict.get("files", exc.messages):
                    form.add_error("images", message)
            else:
                messages.success(
                    request,
                    f"{len(result.created)} image{pluralize(len(result.created))} queued for labelling"
                    + (f"; {len(result.existing)} already known." if result.existing else "."),
                )
                # Where the uploader can follow the labelling: the jobs page is the reviewers'; an
                # editor goes back to the item (or the upload form), never to a page that refuses.
                if can(request.user, Action.REVIEW_LABELS):
                    return redirect("labels:jobs")
                if item is not None:
                    return redirect("content:detail", item.upstream_id)
                return redirect("labels:upload")
    return render(request, "labels/upload.html", {"form": form})


@portal_view
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    """Labelling status: counts by state and the failures, each with its error and a retry button."""
    require(request.user, Action.REVIEW_LABELS)
    return render(request, "labels/jobs.html", {"status": sel.labels_status(), "failed": sel.failed_jobs()})


# --- sections and bands ----------------------------------------------------------------------


@portal_view
@submit_once
def sections(request: HttpRequest) -> HttpResponse:
    """Sections with their mappings and sizes; create a section; edit the global bands."""
    require(request.user, Action.REVIEW_LABELS)
    form = SectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            section = svc.section_create(actor=actor_of(request), name=form.cleaned_data["name"])
        except ValidationError as exc:
            for field_name, msgs in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, msgs)
        else:
            messages.success(request, f"Section {section.name} created.")
            return redirect("labels:section", section_id=section.pk)
    band = svc.global_band()
    return render(
        request,
        "labels/sections.html",
        {
            "rows": sel.sections_overview(),
            "form": form,
            "bands_form": BandsForm(initial={"auto_accept": band.accept, "auto_reject": band.reject}),
        },
    )


@portal_view
@require_POST
def bands(request: HttpRequest, section_id: int | None = None) -> HttpResponse:
    """Set the global bands, or a section's."""
    section = _section_or_404(section_id) if section_id else None
    form = BandsForm(request.POST)
    fallback = reverse("labels:section", args=[section_id]) if section_id else reverse("labels:sections")
    if not form.is_valid():
        messages.error(request, " ".join(str(m) for msgs in form.errors.values() for m in msgs))
        return _back(request, fallback)
    try:
        svc.bands_set(
            actor=actor_of(request),
            section=section,
            auto_accept=form.cleaned_data["auto_accept"],
            auto_reject=form.cleaned_data["auto_reject"],
            apply_to_pending=form.cleaned_data["apply_to_pending"],
        )
        messages.success(request, "Confidence bands saved.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, fallback)


@portal_view
@submit_once
def section_detail(request: HttpRequest, section_id: int) -> HttpResponse:
    """One section: its mappings with live admission counts, its bands and its images."""
    require(request.user, Action.REVIEW_LABELS)
    section = _section_or_404(section_id)
    # A row's threshold form names its mapping; its errors belong in that row, and "Map a label"
    # stays empty, not pre-filled with the row's values.
    row_id = request.POST.get("mapping", "") if request.method == "POST" else ""
    row_mapping = section.mappings.filter(pk=int(row_id)).first() if row_id.isdigit() else None
    if row_id and row_mapping is None:
        raise Http404("No such mapping in this section.")
    posted = MappingForm(request.POST or None)
    form = posted if row_mapping is None else MappingForm()
    row_errors: dict[int, list[str]] = {}
    row_values: dict[int, str] = {}
    if request.method == "POST" and posted.is_valid():
        try:
            svc.section_mapping_set(
                actor=actor_of(request),
                section=section,
                label_name=row_mapping.label_name if row_mapping else posted.cleaned_data["label_name"],
                min_confidence=posted.cleaned_data["min_confidence"],
            )
        except ValidationError as exc:
            for field_name, msgs in exc.message_dict.items():
                posted.add_error(field_name if field_name in posted.fields else None, msgs)
        else:
            label_name = row_mapping.label_name if row_mapping else posted.cleaned_data["label_name"]
            messages.success(request, f"{label_name} mapped to {section.name}.")
            return redirect("labels:section", section_id=section.pk)
    if row_mapping is not None and posted.errors:
        row_errors[row_mapping.pk] = [str(m) for msgs in posted.errors.values() for m in msgs]
        row_values[row_mapping.pk] = request.POST.get("min_confidence", "")
    section = _section_or_404(section_id)
    count, images = sel.section_images(section=section)
    bands_obj = getattr(section, "bands", None)
    band = svc.global_band()
    return render(
        request,
        "labels/section.html",
        {
            "section": section,
            "mappings": [
                (
                    m,
                    sel.section_admission(
                        section=section, label_name=m.label_name, min_confidence=m.min_confidence
                    ),
                    row_errors.get(m.pk, []),
                    row_values.get(m.pk, f"{m.min_confidence:g}"),
                )
                for m in section.mappings.all()
            ],
            "form": form,
            "count": count,
            "images": images,
            "label_names": sel.label_names(limit=300),
            "has_own_bands": bands_obj is not None,
            "bands_form": BandsForm(
                initial={
                    "auto_accept": bands_obj.auto_accept if bands_obj else band.accept,
                    "auto_reject": bands_obj.auto_reject if bands_obj else band.reject,
                }
            ),
        },
        status=422 if posted.errors else 200,
    )


def _section_or_404(section_id: int) -> Section:
    try:
        return sel.section_get(section_id=section_id)
    except Section.DoesNotExist as exc:
        raise Http404("No such section.") from exc


@portal_view
@require_GET
def admission(request: HttpRequest, section_id: int) -> HttpResponse:
    """HTMX: how many images a label threshold would admit to the section, computed live."""
    require(request.user, Action.REVIEW_LABELS)
    section = _section_or_404(section_id)
    label_name = request.GET.get("label_name", "").strip()
    try:
        threshold = float(request.GET.get("min_confidence", ""))
    except ValueError:
        return HttpResponse('<span class="errorlist">Enter a number between 0 and 100.</span>')
    if not label_name or not 0 <= threshold <= 100:
        return HttpResponse('<span class="errorlist">Name a label and a threshold between 0 and 100.</span>')
    result = sel.section_admission(section=section, label_name=label_name, min_confidence=threshold)
    return render(request, "labels/_admission.html", {"a": result})


@portal_view
@require_POST
def mapping_delete(request: HttpRequest, mapping_id: int) -> HttpResponse:
    """Remove a label from a section."""
    mapping = get_object_or_404(SectionMapping.objects.select_related("section"), pk=mapping_id)
    svc.section_mapping_delete(actor=actor_of(request), mapping=mapping)
    messages.success(request, f"{mapping.label_name} no longer maps to {mapping.section.name}.")
    return redirect("labels:section", section_id=mapping.section_id)


# --- moderation policies ---------------------------------------------------------------------


@portal_view
@require_GET
def moderation(request: HttpRequest) -> HttpResponse:
    """Markets whose moderation policy the user may edit."""
    markets = list(markets_for(request.user, Action.EDIT_MARKET_SETTINGS).order_by("code"))
    if not markets:
        raise AccessDenied(Action.EDIT_MARKET_SETTINGS)
    counts = {
        p.market_id: p
        for p in MarketModerationPolicy.objects.filter(market__in=markets).order_by("market_id")
    }
    return render(request, "labels/moderation.html", {"markets": markets, "with_policy": set(counts)})


@portal_view
@submit_once
def moderation_market(request: HttpRequest, code: str) -> HttpResponse:
    """One market's moderation policy: block categories at thresholds; the images it blocks."""
    market = get_object_or_404(Market, code=code)
    require(request.user, Action.EDIT_MARKET_SETTINGS, market)
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policy = svc.moderation_policy_set(
                actor=actor_of(request),
                market=market,
                category=form.cleaned_data["category"],
                block_at=form.cleaned_data["block_at"],
            )
        except ValidationError as exc:
            for field_name, msgs in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, msgs)
        else:
            messages.success(
                request, f"{market.code} blocks {policy.category} at {policy.block_at:g} or above."
            )
            return redirect("labels:moderation_market", code=market.code)
    blocked_count, blocks = sel.market_blocks(market=market)
    return render(
        request,
        "labels/moderation_market.html",
        {
            "market": market,
            "policies": sel.market_policies(market=market),
            "form": form,
            "blocked_count": blocked_count,
            "blocks": blocks,
        },
    )


@portal_view
@require_POST
def policy_delete(request: HttpRequest, policy_id: int) -> HttpResponse:
    """Stop blocking a category in a market."""
    policy = get_object_or_404(MarketModerationPolicy.objects.select_related("market"), pk=policy_id)
    svc.moderation_policy_delete(actor=actor_of(request), policy=policy)
    messages.success(request, f"{policy.market.code} no longer blocks {policy.category}.")
    return redirect("labels:moderation_market", code=policy.market.code)
