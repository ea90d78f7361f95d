"""The review queue's order and filters, the review pages, and every role's access."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from content.labels.models import ImageLabel, LabelStatus
from content.labels.selectors import QueueFilters, image_shared_items, review_queue
from content.labels.services import (
    image_labels_store,
    moderation_policy_set,
    section_create,
    section_mapping_set,
)
from positioning.tables import SCHEMA_VERSION
from tests.labels.conftest import result

ROLES = ["admin_user", "editor", "au_editor", "au_manager", "reviewer", "nobody"]
REVIEWERS = {"admin_user", "reviewer"}


@pytest.fixture
def queue_images(new_image: Any) -> list[Any]:
    """Three labelled images whose least confident pending labels are 70, 62 and 88."""
    images = [new_image() for _ in range(3)]
    image_labels_store(image_id=images[0].pk, result=result([("Snow", 70.0), ("Glacier", 91.0)]))
    image_labels_store(image_id=images[1].pk, result=result([("Person", 62.0), ("Sky", 99.0)]))
    image_labels_store(image_id=images[2].pk, result=result([("Sea", 88.0)]))
    return images


def login(client: Client, request: pytest.FixtureRequest, role: str) -> Any:
    user = request.getfixturevalue(role)
    client.force_login(user)
    return user


def test_the_queue_lists_least_confident_first(queue_images: list[Any]) -> None:
    order = [i.pk for i in review_queue()]
    assert order == [queue_images[1].pk, queue_images[0].pk, queue_images[2].pk]


def test_queue_filters_by_label_confidence_status_version_and_reviewer(
    queue_images: list[Any], reviewer: Any
) -> None:
    assert [i.pk for i in review_queue(filters=QueueFilters(label="snow"))] == [queue_images[0].pk]
    assert [i.pk for i in review_queue(filters=QueueFilters(min_confidence=65, max_confidence=80))] == [
        queue_images[0].pk
    ]
    assert [i.pk for i in review_queue(filters=QueueFilters(model_version="other"))] == []
    # Sky 99 was approved automatically
    auto = review_queue(filters=QueueFilters(status=LabelStatus.APPROVED, reviewer="auto"))
    assert [i.pk for i in auto] == [queue_images[1].pk]
    label = ImageLabel.objects.get(name="Sea")
    from content.labels.services import labels_decide

    labels_decide(actor=reviewer, label_ids=[label.pk], status="rejected")
    by_reviewer = review_queue(filters=QueueFilters(status="", reviewer="reviewer"))
    assert [i.pk for i in by_reviewer] == [queue_images[2].pk]


def test_queue_filters_by_category(new_image: Any) -> None:
    from content.labels.labellers.base import DetectedLabel, LabellingResult

    image = new_image()
    image_labels_store(
        image_id=image.pk,
        result=LabellingResult(
            backend="fake",
            labels=(DetectedLabel(name="Phone", confidence=70.0, categories=("Technology and Computing",)),),
            label_model_version="fake-1",
        ),
    )
    assert [i.pk for i in review_queue(filters=QueueFilters(category="Technology and Computing"))] == [
        image.pk
    ]
    assert list(review_queue(filters=QueueFilters(category="Animals"))) == []


@pytest.mark.parametrize("role", ROLES)
def test_queue_page_is_for_reviewers_and_admins(
    client: Client, request: pytest.FixtureRequest, role: str, queue_images: list[Any]
) -> None:
    login(client, request, role)
    response = client.get(reverse("labels:queue"))
    assert response.status_code == (200 if role in REVIEWERS else 403)


def test_queue_page_query_count_does_not_grow(
    client: Client, reviewer: Any, new_image: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(12):
        image = new_image()
        image_labels_store(image_id=image.pk, result=result([("Snow", 70.0)]))
    client.force_login(reviewer)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("labels:queue"))
    assert response.content.decode().count('class="thumb-card') == 12


def test_the_review_page_shows_boxes_decisions_and_the_fake_marker(
    client: Client, reviewer: Any, new_image: Any
) -> None:
    from content.labels import jobs
    from content.labels.labellers.fake import FakeLabeller

    image = new_image()
    jobs.process(labeller=FakeLabeller())
    client.force_login(reviewer)
    page = client.get(reverse("labels:image", args=[image.pk])).content.decode()
    assert "Not real (fake labeller)" in page
    assert '<svg class="boxes"' in page
    assert 'id="labels-table"' in page and "js/labels.js" in page
    assert "<script>" not in page and "onclick" not in page


@pytest.mark.parametrize("role", ROLES)
def test_deciding_a_label_by_role(
    client: Client, request: pytest.FixtureRequest, role: str, queue_images: list[Any]
) -> None:
    login(client, request, role)
    label = ImageLabel.objects.get(name="Snow")
    response = client.post(reverse("labels:decide", args=[label.pk, "approve"]), HTTP_HX_REQUEST="true")
    label.refresh_from_db()
    if role in REVIEWERS:
        assert response.status_code == 200
        assert label.status == LabelStatus.APPROVED
        body = response.content.decode()
        assert f'id="label-{label.pk}"' in body and 'hx-swap-oob="true"' in body
    else:
        assert response.status_code == 403
        assert label.status == LabelStatus.PENDING


def test_deciding_shows_the_image_in_its_section_out_of_band(
    client: Client, reviewer: Any, queue_images: list[Any]
) -> None:
    polar = section_create(actor=reviewer, name="Polar")
    section_mapping_set(actor=reviewer, section=polar, label_name="Snow", min_confidence=60)
    client.force_login(reviewer)
    label = ImageLabel.objects.get(name="Snow")
    body = client.post(reverse("labels:decide", args=[label.pk, "approve"]), HTTP_HX_REQUEST="true").content
    assert b"Polar" in body
    section_page = client.get(reverse("labels:section", args=[polar.pk])).content.decode()
    assert f'data-image-id="{queue_images[0].pk}"' in section_page


def test_approve_all_at_least_and_bulk_reject(client: Client, reviewer: Any, queue_images: list[Any]) -> None:
    client.force_login(reviewer)
    client.post(reverse("labels:approve_at_least", args=[queue_images[0].pk]), {"min_confidence": "65"})
    assert ImageLabel.objects.get(name="Snow").status == LabelStatus.APPROVED
    response = client.post(
        reverse("labels:bulk"), {"decision": "reject", "image_ids": [queue_images[1].pk, queue_images[2].pk]}
    )
    assert response.status_code == 302
    assert ImageLabel.objects.get(name="Person").status == LabelStatus.REJECTED
    assert ImageLabel.objects.get(name="Sea").status == LabelStatus.REJECTED
    assert ImageLabel.objects.get(name="Sky").status == LabelStatus.APPROVED  # already decided: untouched


def test_bulk_with_nothing_selected_says_so(client: Client, reviewer: Any) -> None:
    client.force_login(reviewer)
    response = client.post(reverse("labels:bulk"), {"decision": "approve"}, follow=True)
    assert "Select at least one image." in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_sections_pages_and_live_admission_by_role(
    client: Client, request: pytest.FixtureRequest, role: str, queue_images: list[Any], reviewer: Any
) -> None:
    polar = section_create(actor=reviewer, name="Polar")
    login(client, request, role)
    pages = [
        client.get(reverse("labels:sections")),
        client.get(reverse("labels:section", args=[polar.pk])),
        client.get(
            reverse("labels:admission", args=[polar.pk]), {"label_name": "Snow", "min_confidence": "50"}
        ),
        client.post(
            reverse("labels:section", args=[polar.pk]), {"label_name": "Ice", "min_confidence": "90"}
        ),
    ]
    expected = {200, 302} if role in REVIEWERS else {403}
    assert {p.status_code for p in pages} <= expected


def test_admission_partial_counts_live(client: Client, reviewer: Any, queue_images: list[Any]) -> None:
    polar = section_create(actor=reviewer, name="Polar")
    ImageLabel.objects.filter(name__in=["Snow", "Glacier"]).update(status=LabelStatus.APPROVED)
    client.force_login(reviewer)
    body = client.get(
        reverse("labels:admission", args=[polar.pk]), {"label_name": "Snow", "min_confidence": "65"}
    ).content.decode()
    assert "admits <strong>1</strong> image;" in body
    bad = client.get(
        reverse("labels:admission", args=[polar.pk]), {"label_name": "Snow", "min_confidence": "x"}
    )
    assert bad.status_code == 200 and "Enter a number" in bad.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_moderation_policy_pages_by_role(
    client: Client, request: pytest.FixtureRequest, role: str, au: Any, de: Any
) -> None:
    login(client, request, role)
    au_page = client.get(reverse("labels:moderation_market", args=["AU"]))
    de_post = client.post(
        reverse("labels:moderation_market", args=["DE"]), {"category": "Violence", "block_at": "60"}
    )
    index = client.get(reverse("labels:moderation"))
    if role == "admin_user":
        assert (au_page.status_code, de_post.status_code, index.status_code) == (200, 302, 200)
        assert de.moderation_policies.get().block_at == 60
    elif role == "au_manager":
        assert (au_page.status_code, de_post.status_code, index.status_code) == (200, 403, 200)
        assert not de.moderation_policies.exists()
    else:
        assert (au_page.status_code, de_post.status_code, index.status_code) == (403, 403, 403)


def test_moderation_form_errors_are_inline(client: Client, admin_user: Any, de: Any) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("labels:moderation_market", args=["DE"]), {"category": "", "block_at": "150"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "This field is required." in body and "less than or equal to 100" in body


def test_the_review_page_shows_blocks_in_markets(
    client: Client, reviewer: Any, new_image: Any, de: Any
) -> None:
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    image = new_image()
    image_labels_store(image_id=image.pk, result=result(moderation=[("Violence", "", "Violence", 72.0, 1)]))
    client.force_login(reviewer)
    page = client.get(reverse("labels:image", args=[image.pk])).content.decode()
    blocks = page[page.index("Blocked in markets") :]
    assert "Not blocked in any market" not in blocks, blocks[:600]
    assert "DE</span>" in blocks and "72 ≥ 60" in blocks, blocks[:600]


@pytest.mark.parametrize("role", ROLES)
def test_upload_page_by_role_and_clear_errors(
    client: Client, request: pytest.FixtureRequest, role: str, png: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    login(client, request, role)
    good = SimpleUploadedFile("ok.png", png(), content_type="image/png")
    bad = SimpleUploadedFile("fake.jpg", b"hello, not an image", content_type="image/jpeg")
    response = client.post(reverse("labels:upload"), {"images": [good, bad]})
    if role in ("nobody", "au_manager"):
        assert response.status_code == 403
        return
    body = response.content.decode()
    assert response.status_code == 200
    assert "fake.jpg is not an image Meridian can read" in body
    from content.labels.models import ImageAsset

    assert not ImageAsset.objects.exists()  # all or nothing
    ok = client.post(reverse("labels:upload"), {"images": [SimpleUploadedFile("ok.png", png())]})
    assert ok.status_code == 302 and ImageAsset.objects.count() == 1
    # and the page it sends the uploader to is one this role may open (editors: not the jobs page)
    assert client.get(ok["Location"]).status_code == 200
    from django.contrib.messages import get_messages

    assert [str(m) for m in get_messages(ok.wsgi_request)] == ["1 image queued for labelling."]


def test_failures_show_their_error_and_retry(client: Client, reviewer: Any, new_image: Any) -> None:
    from content.labels import jobs
    from tests.labels.test_jobs import Failing

    image = new_image()
    jobs.process(labeller=Failing(final=True))
    client.force_login(reviewer)
    page = client.get(reverse("labels:jobs")).content.decode()
    assert "ThrottlingException: Slow down" in page
    response = client.post(reverse("labels:retry", args=[image.pk]))
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == "queued"
    again = client.post(reverse("labels:retry", args=[image.pk]), follow=True)
    assert "already queued" in again.content.decode()


def test_image_files_are_served_to_allowed_roles_only(
    client: Client, new_image: Any, nobody: Any, editor: Any
) -> None:
    image = new_image()
    client.force_login(nobody)
    assert client.get(reverse("labels:file", args=[image.pk, "thumb"])).status_code == 403
    client.force_login(editor)
    response = client.get(reverse("labels:file", args=[image.pk, "thumb"]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert client.get(reverse("labels:file", args=[image.pk, "nope"])).status_code == 404


def test_shared_item_shape_and_query_count(
    new_image: Any, reviewer: Any, de: Any, django_assert_max_num_queries: Any
) -> None:
    images = [new_image() for _ in range(5)]
    for image in images:
        image_labels_store(image_id=image.pk, result=result([("Glacier", 97.0), ("Person", 70.0)]))
    with django_assert_max_num_queries(6):
        items = image_shared_items([i.pk for i in images] + [999_999])
    item = items[str(images[0].pk)]
    assert set(items) == {str(i.pk) for i in images}
    assert item["labels"] == [{"name": "Glacier", "confidence": 97.0}]
    assert item["version"] == images[0].__class__.objects.get(pk=images[0].pk).version
    assert item["updated_at"].endswith("Z") and item["schema_version"] == SCHEMA_VERSION
    assert {"sections", "moderation_labels", "blocked_markets", "content_id"} <= set(item)
