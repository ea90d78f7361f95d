"""REST API: upload, register S3 keys, list/detail, decide, retry — allowed and denied per role."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from content.labels.models import ImageAsset, ImageLabel, LabelStatus
from content.labels.services import image_labels_store
from tests.factories import ContentItemFactory
from tests.labels.conftest import make_image, result

ROLES = ["admin_user", "editor", "au_editor", "au_manager", "reviewer", "nobody"]
REVIEWERS = {"admin_user", "reviewer"}
UPLOADERS = {"admin_user", "reviewer", "editor", "au_editor"}


def api(request: pytest.FixtureRequest, role: str) -> APIClient:
    client = APIClient()
    client.force_login(request.getfixturevalue(role))
    return client


@pytest.mark.parametrize("role", ROLES)
def test_rest_upload_by_role(request: pytest.FixtureRequest, role: str, png: Any, db: None) -> None:
    item = ContentItemFactory(upstream_id="ng-1")
    response = api(request, role).post(
        "/api/v1/images/",
        {
            "files": [SimpleUploadedFile("a.png", png()), SimpleUploadedFile("b.png", png())],
            "content_id": "ng-1",
        },
        format="multipart",
    )
    if role in UPLOADERS:
        assert response.status_code == 201, response.content
        assert len(response.json()["created"]) == 2
        assert set(ImageAsset.objects.values_list("item_id", flat=True)) == {item.pk}
    else:
        assert response.status_code == 403
        assert not ImageAsset.objects.exists()


def test_rest_upload_refuses_bad_files_with_field_errors(reviewer: Any) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.post(
        "/api/v1/images/",
        {"files": [SimpleUploadedFile("x.jpg", make_image((120, 120), "GIF"))]},
        format="multipart",
    )
    assert response.status_code == 400
    assert "x.jpg is a GIF image" in response.json()["files"][0]
    missing = client.post("/api/v1/images/", {}, format="multipart")
    assert missing.status_code == 400 and "files" in missing.json()


def test_register_existing_keys_validates_content_before_any_aws_call(reviewer: Any) -> None:
    default_storage.save("incoming/glacier.jpg", ContentFile(make_image((400, 300), "JPEG")))
    default_storage.save("incoming/notes.jpg", ContentFile(b"text, not an image"))
    client = APIClient()
    client.force_login(reviewer)
    bad = client.post(
        "/api/v1/images/register/",
        {"keys": ["incoming/glacier.jpg", "incoming/notes.jpg", "incoming/missing.jpg", "../etc/passwd"]},
        format="json",
    )
    assert bad.status_code == 400
    errors = bad.json()["keys"]
    assert any("notes.jpg is not an image" in e for e in errors)
    assert any("missing.jpg does not exist" in e for e in errors)
    assert any("not a valid S3 key" in e for e in errors)
    assert not ImageAsset.objects.exists()
    ok = client.post("/api/v1/images/register/", {"keys": ["incoming/glacier.jpg"]}, format="json")
    assert ok.status_code == 201
    (created,) = ok.json()["created"]
    assert (created["key"], created["width"], created["height"], created["status"]) == (
        "incoming/glacier.jpg",
        400,
        300,
        "queued",
    )
    again = client.post("/api/v1/images/register/", {"keys": ["incoming/glacier.jpg"]}, format="json")
    assert again.json()["created"] == [] and len(again.json()["existing"]) == 1


@pytest.mark.parametrize("role", ROLES)
def test_list_detail_and_decide_by_role(request: pytest.FixtureRequest, role: str, new_image: Any) -> None:
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 80.0)]))
    label = ImageLabel.objects.get(image=image)
    client = api(request, role)
    listing = client.get("/api/v1/images/")
    detail = client.get(f"/api/v1/images/{image.pk}/")
    decide = client.post(
        "/api/v1/labels/decide/", {"label_ids": [label.pk], "status": "approved"}, format="json"
    )
    label.refresh_from_db()
    if role in REVIEWERS:
        assert (listing.status_code, detail.status_code, decide.status_code) == (200, 200, 200)
        assert detail.json()["labels"][0]["name"] == "Snow"
        assert decide.json()["changed"] == 1
        assert label.status == LabelStatus.APPROVED
    else:
        assert (listing.status_code, detail.status_code, decide.status_code) == (403, 403, 403)
        assert label.status == LabelStatus.PENDING


def test_decide_rejects_bad_input_with_400(reviewer: Any) -> None:
    client = APIClient()
    client.force_login(reviewer)
    assert (
        client.post(
            "/api/v1/labels/decide/", {"label_ids": [], "status": "approved"}, format="json"
        ).status_code
        == 400
    )
    unknown = client.post(
        "/api/v1/labels/decide/", {"label_ids": [12345], "status": "approved"}, format="json"
    )
    assert unknown.status_code == 400 and "label_ids" in unknown.json()
    assert (
        client.post(
            "/api/v1/labels/decide/", {"label_ids": [1], "status": "maybe"}, format="json"
        ).status_code
        == 400
    )


def test_list_query_count_is_flat(reviewer: Any, new_image: Any, django_assert_max_num_queries: Any) -> None:
    for _ in range(8):
        new_image()
    client = APIClient()
    client.force_login(reviewer)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/images/?status=queued")
    assert len(response.json()["results"]) == 8
    assert client.get("/api/v1/images/?status=nonsense").status_code == 400


def test_retry_endpoint(reviewer: Any, new_image: Any) -> None:
    from content.labels import jobs
    from tests.labels.test_jobs import Failing

    image = new_image()
    jobs.process(labeller=Failing(final=True))
    client = APIClient()
    client.force_login(reviewer)
    response = client.post(f"/api/v1/images/{image.pk}/retry/")
    assert response.status_code == 202 and response.json()["state"] == "queued"
    assert client.post(f"/api/v1/images/{image.pk}/retry/").status_code == 400
    assert client.post("/api/v1/images/999999/retry/").status_code == 404
