"""REST API for sections, their mappings, the admission preview, confidence bands and per-market
moderation policies: allowed and denied paths for every role, bad input, query counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import api_token_create
from content.labels.models import (
    LEGACY_MODERATION_CATEGORIES,
    MODERATION_CATEGORIES,
    ImageAsset,
    ImageBlock,
    ImageLabel,
    LabelBands,
    LabelStatus,
    MarketModerationPolicy,
    Section,
    SectionMapping,
)
from content.labels.selectors import section_image_ids
from content.labels.services import (
    bands_set,
    image_labels_store,
    labels_decide,
    moderation_policy_set,
    section_create,
    section_mapping_set,
)
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry, OutboxKind
from tests.labels.conftest import result

ROLES = ["admin_user", "editor", "au_manager", "reviewer", "nobody"]
REVIEWERS = {"admin_user", "reviewer"}
# Market managers of AU (and AU-OPTUS) and admins edit AU's moderation; nobody else.
AU_MODERATORS = {"admin_user", "au_manager"}


def api(request: pytest.FixtureRequest, role: str) -> APIClient:
    client = APIClient()
    client.force_login(request.getfixturevalue(role))
    return client


def approved_image(new_image: Callable[..., Any], labels: list[tuple[str, float]]) -> ImageAsset:
    """Upload a real image, label it, and approve every label (as the system)."""
    image: ImageAsset = new_image()
    image_labels_store(image_id=image.pk, result=result(labels))
    ids = list(ImageLabel.objects.filter(image=image).values_list("pk", flat=True))
    labels_decide(actor=None, label_ids=ids, status=LabelStatus.APPROVED, via="command")
    image.refresh_from_db()
    return image


def moderated_image(new_image: Callable[..., Any], violence: float) -> ImageAsset:
    image: ImageAsset = new_image()
    image_labels_store(
        image_id=image.pk,
        result=result([("Sky", 80.0)], moderation=[("Violence", "", "Violence", violence, 1)]),
    )
    image.refresh_from_db()
    return image


def image_outbox(image: ImageAsset) -> set[int]:
    return set(
        OutboxEntry.objects.filter(kind=OutboxKind.IMAGE, key=str(image.pk)).values_list("version", flat=True)
    )


@pytest.fixture
def polar(reviewer: Any) -> Section:
    section = section_create(actor=reviewer, name="Polar")
    section_mapping_set(actor=reviewer, section=section, label_name="Glacier", min_confidence=90)
    return section


# --- sections: list --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_section_list_by_role(request: pytest.FixtureRequest, role: str, polar: Section) -> None:
    # given a section, when each role lists sections
    response = api(request, role).get("/api/v1/sections/")
    # then reviewers and admins see it; everyone else is refused
    if role in REVIEWERS:
        assert response.status_code == 200, response.content
        assert [s["name"] for s in response.json()["results"]] == ["Polar"]
    else:
        assert response.status_code == 403
        assert "review labels" in response.json()["detail"]


def test_anonymous_callers_are_asked_to_authenticate(polar: Section) -> None:
    for path in ["/api/v1/sections/", f"/api/v1/sections/{polar.pk}/", "/api/v1/label-bands/"]:
        assert APIClient().get(path).status_code == 401


def test_section_list_shows_mappings_bands_and_image_counts(
    reviewer: Any, polar: Section, new_image: Callable[..., Any]
) -> None:
    # given two Glacier images above Polar's threshold, one below, and Polar's own bands
    approved_image(new_image, [("Glacier", 95.0)])
    approved_image(new_image, [("glacier", 91.0), ("Ice", 99.0)])
    approved_image(new_image, [("Glacier", 70.0)])
    bands_set(actor=reviewer, section=polar, auto_accept=98, auto_reject=40)
    section_create(actor=reviewer, name="Empty")
    client = APIClient()
    client.force_login(reviewer)
    # when the reviewer lists sections
    rows = client.get("/api/v1/sections/").json()["results"]
    # then each section carries its mappings, own bands (or null) and its number of images
    assert [r["name"] for r in rows] == ["Empty", "Polar"]
    empty, listed = rows
    assert empty["image_count"] == 0 and empty["mappings"] == [] and empty["bands"] is None
    assert listed["image_count"] == 2 == section_image_ids(section=polar).count()
    assert [(m["label_name"], m["min_confidence"]) for m in listed["mappings"]] == [("Glacier", 90.0)]
    assert listed["bands"]["auto_accept"] == 98.0 and listed["bands"]["auto_reject"] == 40.0


def test_section_list_query_count_does_not_grow_with_sections(
    reviewer: Any, new_image: Callable[..., Any], django_assert_max_num_queries: Any
) -> None:
    # given sections with mappings and bands, and labelled images
    approved_image(new_image, [("Glacier", 95.0), ("Seal", 88.0)])
    client = APIClient()
    client.force_login(reviewer)

    def add_sections(names: list[str]) -> None:
        for name in names:
            section = section_create(actor=reviewer, name=name)
            section_mapping_set(actor=reviewer, section=section, label_name="Glacier", min_confidence=50)
            section_mapping_set(actor=reviewer, section=section, label_name="Seal", min_confidence=80)
            bands_set(actor=reviewer, section=section, auto_accept=97, auto_reject=30)

    add_sections(["A", "B"])
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/sections/").status_code == 200
    add_sections([f"More {n}" for n in range(10)])
    # when twelve sections are listed, then it costs no more queries than two did
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/sections/")
    assert len(response.json()["results"]) == 12
    assert {r["image_count"] for r in response.json()["results"]} == {1}
    assert len(few.captured_queries) <= 6


# --- sections: create, read, rename, delete --------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_section_create_by_role(request: pytest.FixtureRequest, role: str) -> None:
    response = api(request, role).post("/api/v1/sections/", {"name": "Polar"}, format="json")
    if role in REVIEWERS:
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["name"] == "Polar" and body["image_count"] == 0 and body["mappings"] == []
        entry = AuditEntry.objects.get(action="section.create")
        assert entry.via == "api" and entry.object_id == str(body["id"])
    else:
        assert response.status_code == 403
        assert not Section.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 121}, {"name": "polar"}, {"name": "a\x00b"}],
)
def test_section_create_refuses_bad_names_with_field_errors(
    reviewer: Any, polar: Section, payload: dict[str, Any]
) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.post("/api/v1/sections/", payload, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert Section.objects.count() == 1


def test_section_create_refuses_malformed_json(reviewer: Any) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.post("/api/v1/sections/", "{not json", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("role", ROLES)
def test_section_read_by_role(request: pytest.FixtureRequest, role: str, polar: Section) -> None:
    response = api(request, role).get(f"/api/v1/sections/{polar.pk}/")
    missing = api(request, role).get("/api/v1/sections/999999/")
    if role in REVIEWERS:
        assert response.status_code == 200
        assert response.json()["mappings"][0]["label_name"] == "Glacier"
        assert missing.status_code == 404
    else:
        # Refused before the lookup: a caller without the role learns nothing about ids.
        assert response.status_code == 403 and missing.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_section_rename_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, new_image: Callable[..., Any]
) -> None:
    # given an image in Polar
    image = approved_image(new_image, [("Glacier", 95.0)])
    # when a role renames Polar
    response = api(request, role).patch(f"/api/v1/sections/{polar.pk}/", {"name": "Arctic"}, format="json")
    polar.refresh_from_db()
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in REVIEWERS:
        # then the name changes and the image's shared item (which names its sections) is republished
        assert response.status_code == 200 and response.json()["name"] == "Arctic"
        assert polar.name == "Arctic"
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
        assert AuditEntry.objects.filter(action="section.rename", via="api").count() == 1
    else:
        assert response.status_code == 403
        assert polar.name == "Polar" and fresh.version == image.version


def test_section_rename_refuses_a_taken_or_empty_name(reviewer: Any, polar: Section) -> None:
    section_create(actor=reviewer, name="Ocean")
    client = APIClient()
    client.force_login(reviewer)
    taken = client.patch(f"/api/v1/sections/{polar.pk}/", {"name": "OCEAN"}, format="json")
    empty = client.patch(f"/api/v1/sections/{polar.pk}/", {"name": ""}, format="json")
    missing = client.patch("/api/v1/sections/999999/", {"name": "X"}, format="json")
    assert taken.status_code == 400 and "already exists" in taken.json()["name"][0]
    assert empty.status_code == 400 and "name" in empty.json()
    assert missing.status_code == 404
    # Renaming to its own name (another case) is allowed.
    same = client.patch(f"/api/v1/sections/{polar.pk}/", {"name": "POLAR"}, format="json")
    assert same.status_code == 200 and same.json()["name"] == "POLAR"


@pytest.mark.parametrize("role", ROLES)
def test_section_delete_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, reviewer: Any, new_image: Callable[..., Any]
) -> None:
    # given an image in Polar, which has its own bands
    image = approved_image(new_image, [("Glacier", 95.0)])
    bands_set(actor=reviewer, section=polar, auto_accept=99, auto_reject=10)
    # when a role deletes Polar
    response = api(request, role).delete(f"/api/v1/sections/{polar.pk}/")
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in REVIEWERS:
        # then it goes with its mappings and bands, and the image that left is republished
        assert response.status_code == 204
        assert not Section.objects.exists() and not SectionMapping.objects.exists()
        assert not LabelBands.objects.exists()
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
        entry = AuditEntry.objects.get(action="section.delete")
        assert entry.before is not None and entry.before["mappings"] == {"Glacier": 90.0}
        assert entry.after == {"left": 1}
        assert api(request, role).delete(f"/api/v1/sections/{polar.pk}/").status_code == 404
    else:
        assert response.status_code == 403
        assert Section.objects.filter(pk=polar.pk).exists() and fresh.version == image.version


# --- mappings --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_mapping_add_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, new_image: Callable[..., Any]
) -> None:
    # given a Seal image at 88
    image = approved_image(new_image, [("Seal", 88.0)])
    # when a role maps Seal ≥ 85 to Polar
    response = api(request, role).post(
        f"/api/v1/sections/{polar.pk}/mappings/", {"label_name": "Seal", "min_confidence": 85}, format="json"
    )
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in REVIEWERS:
        # then the mapping exists and the image joins Polar, with a new version and outbox row
        assert response.status_code == 201, response.content
        assert response.json()["label_name"] == "Seal" and response.json()["min_confidence"] == 85.0
        assert image.pk in set(section_image_ids(section=polar))
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
        assert AuditEntry.objects.filter(action="section.mapping", via="api").exists()
    else:
        assert response.status_code == 403
        assert not SectionMapping.objects.filter(label_name="Seal").exists()
        assert fresh.version == image.version


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"label_name": "glacier", "min_confidence": 50}, "label_name"),
        ({"label_name": "", "min_confidence": 50}, "label_name"),
        ({"min_confidence": 50}, "label_name"),
        ({"label_name": "x" * 201, "min_confidence": 50}, "label_name"),
        ({"label_name": "Ice", "min_confidence": 100.5}, "min_confidence"),
        ({"label_name": "Ice", "min_confidence": -1}, "min_confidence"),
        ({"label_name": "Ice", "min_confidence": "high"}, "min_confidence"),
        ({"label_name": "Ice", "min_confidence": None}, "min_confidence"),
        ({"label_name": "Ice"}, "min_confidence"),
    ],
)
def test_mapping_add_refuses_bad_input_with_field_errors(
    reviewer: Any, polar: Section, payload: dict[str, Any], field: str
) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.post(f"/api/v1/sections/{polar.pk}/mappings/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert list(SectionMapping.objects.values_list("label_name", "min_confidence")) == [("Glacier", 90.0)]


def test_mapping_add_refuses_an_already_mapped_label_and_names_its_threshold(
    reviewer: Any, polar: Section
) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.post(
        f"/api/v1/sections/{polar.pk}/mappings/",
        {"label_name": "GLACIER", "min_confidence": 50},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["label_name"] == [
        "Glacier already maps to Polar at 90; change its threshold instead."
    ]


@pytest.mark.parametrize("role", ROLES)
def test_mapping_list_by_role(request: pytest.FixtureRequest, role: str, polar: Section) -> None:
    response = api(request, role).get(f"/api/v1/sections/{polar.pk}/mappings/")
    if role in REVIEWERS:
        assert response.status_code == 200
        assert [(m["label_name"], m["min_confidence"]) for m in response.json()] == [("Glacier", 90.0)]
    else:
        assert response.status_code == 403


def test_mapping_list_query_count_does_not_grow(
    reviewer: Any, polar: Section, django_assert_max_num_queries: Any
) -> None:
    client = APIClient()
    client.force_login(reviewer)
    for n in range(20):
        section_mapping_set(actor=reviewer, section=polar, label_name=f"Label {n}", min_confidence=n)
    with django_assert_max_num_queries(5):
        response = client.get(f"/api/v1/sections/{polar.pk}/mappings/")
    assert len(response.json()) == 21


@pytest.mark.parametrize("role", ROLES)
def test_mapping_update_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, new_image: Callable[..., Any]
) -> None:
    # given a Glacier image at 92 in Polar (Glacier ≥ 90)
    image = approved_image(new_image, [("Glacier", 92.0)])
    mapping = polar.mappings.get()
    # when a role raises the threshold to 95
    response = api(request, role).patch(
        f"/api/v1/sections/{polar.pk}/mappings/{mapping.pk}/", {"min_confidence": 95}, format="json"
    )
    mapping.refresh_from_db()
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in REVIEWERS:
        # then the image leaves the section and is republished
        assert response.status_code == 200 and response.json()["min_confidence"] == 95.0
        assert mapping.min_confidence == 95.0
        assert image.pk not in set(section_image_ids(section=polar))
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
    else:
        assert response.status_code == 403
        assert mapping.min_confidence == 90.0 and fresh.version == image.version


def test_mapping_update_refuses_bad_thresholds_and_foreign_mappings(reviewer: Any, polar: Section) -> None:
    other = section_create(actor=reviewer, name="Ocean")
    foreign = section_mapping_set(actor=reviewer, section=other, label_name="Wave", min_confidence=80)
    mapping = polar.mappings.get()
    client = APIClient()
    client.force_login(reviewer)
    url = f"/api/v1/sections/{polar.pk}/mappings/{mapping.pk}/"
    for bad in [{"min_confidence": 101}, {"min_confidence": "NaN"}, {}]:
        response = client.patch(url, bad, format="json")
        assert response.status_code == 400 and "min_confidence" in response.json()
    # A mapping of another section is not reachable through Polar.
    wrong = client.patch(
        f"/api/v1/sections/{polar.pk}/mappings/{foreign.pk}/", {"min_confidence": 1}, format="json"
    )
    assert wrong.status_code == 404
    assert client.delete(f"/api/v1/sections/{polar.pk}/mappings/{foreign.pk}/").status_code == 404
    assert client.delete(f"/api/v1/sections/999999/mappings/{mapping.pk}/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.min_confidence == 80.0


@pytest.mark.parametrize("role", ROLES)
def test_mapping_delete_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, new_image: Callable[..., Any]
) -> None:
    image = approved_image(new_image, [("Glacier", 92.0)])
    mapping = polar.mappings.get()
    response = api(request, role).delete(f"/api/v1/sections/{polar.pk}/mappings/{mapping.pk}/")
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in REVIEWERS:
        assert response.status_code == 204
        assert not polar.mappings.exists()
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
        assert AuditEntry.objects.filter(action="section.mapping_delete", via="api").exists()
    else:
        assert response.status_code == 403
        assert polar.mappings.exists() and fresh.version == image.version


# --- admission preview -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_admission_preview_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, new_image: Callable[..., Any]
) -> None:
    # given Glacier images at 95, 88 and 86 (one in Polar at ≥ 90) and one pending at 99
    for confidence in (95.0, 88.0, 86.0):
        approved_image(new_image, [("Glacier", confidence)])
    pending = new_image()
    image_labels_store(image_id=pending.pk, result=result([("Glacier", 94.0)]))
    ImageLabel.objects.filter(image=pending).update(status=LabelStatus.PENDING)
    audits, outbox = AuditEntry.objects.count(), OutboxEntry.objects.count()
    # when a role asks what Glacier ≥ 85 would admit
    response = api(request, role).get(
        f"/api/v1/sections/{polar.pk}/admission?label=Glacier&min_confidence=85"
    )
    if role in REVIEWERS:
        # then three approved images would be in, two more than now; nothing is written
        assert response.status_code == 200, response.content
        assert response.json() == {
            "section_id": polar.pk,
            "label": "Glacier",
            "min_confidence": 85.0,
            "count": 3,
            "section_now": 1,
            "section_then": 3,
            "difference": 2,
        }
        assert polar.mappings.get().min_confidence == 90.0
    else:
        assert response.status_code == 403
    assert (AuditEntry.objects.count(), OutboxEntry.objects.count()) == (audits, outbox)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("min_confidence=85", "label"),
        ("label=&min_confidence=85", "label"),
        ("label=Glacier", "min_confidence"),
        ("label=Glacier&min_confidence=abc", "min_confidence"),
        ("label=Glacier&min_confidence=101", "min_confidence"),
        ("label=Glacier&min_confidence=inf", "min_confidence"),
        ("label=Gla%00cier&min_confidence=85", "label"),
    ],
)
def test_admission_preview_refuses_bad_queries(reviewer: Any, polar: Section, query: str, field: str) -> None:
    client = APIClient()
    client.force_login(reviewer)
    response = client.get(f"/api/v1/sections/{polar.pk}/admission?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_admission_preview_of_an_unknown_section_is_404(reviewer: Any) -> None:
    client = APIClient()
    client.force_login(reviewer)
    assert client.get("/api/v1/sections/999999/admission?label=Glacier&min_confidence=85").status_code == 404


def test_admission_preview_with_an_api_token(reviewer: Any, polar: Section) -> None:
    # given an automation token of a reviewer
    secret = api_token_create(actor=reviewer, user=reviewer, name="section script").secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    # when the script asks for the admission count, then it gets it
    response = client.get(f"/api/v1/sections/{polar.pk}/admission?label=Glacier&min_confidence=85")
    assert response.status_code == 200 and response.json()["count"] == 0


# --- confidence bands ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_global_bands_read_and_update_by_role(
    request: pytest.FixtureRequest, role: str, settings: Any
) -> None:
    settings.LABEL_AUTO_ACCEPT, settings.LABEL_AUTO_REJECT = 95, 60
    client = api(request, role)
    read = client.get("/api/v1/label-bands/")
    write = client.put("/api/v1/label-bands/", {"auto_accept": 90, "auto_reject": 50}, format="json")
    if role in REVIEWERS:
        # then the settings' bands are read as inherited; the stored ones replace them
        assert read.status_code == 200
        assert read.json() == {
            "section_id": None,
            "auto_accept": 95.0,
            "auto_reject": 60.0,
            "inherited": True,
            "updated_at": None,
        }
        assert write.status_code == 200
        body = write.json()
        assert (body["auto_accept"], body["auto_reject"], body["inherited"]) == (90.0, 50.0, False)
        assert client.get("/api/v1/label-bands/").json()["auto_accept"] == 90.0
        assert AuditEntry.objects.filter(action="labels.bands", via="api").count() == 1
    else:
        assert read.status_code == 403 and write.status_code == 403
        assert not LabelBands.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"auto_accept": 50, "auto_reject": 60}, "auto_reject"),
        ({"auto_accept": 101, "auto_reject": 60}, "auto_accept"),
        ({"auto_accept": 90, "auto_reject": -0.1}, "auto_reject"),
        ({"auto_accept": "ninety", "auto_reject": 60}, "auto_accept"),
        ({"auto_reject": 60}, "auto_accept"),
        ({"auto_accept": 90, "auto_reject": 60, "apply_to_pending": "maybe"}, "apply_to_pending"),
    ],
)
def test_bands_refuse_bad_input_with_field_errors(
    reviewer: Any, polar: Section, payload: dict[str, Any], field: str
) -> None:
    client = APIClient()
    client.force_login(reviewer)
    for url in ["/api/v1/label-bands/", f"/api/v1/sections/{polar.pk}/bands/"]:
        response = client.put(url, payload, format="json")
        assert response.status_code == 400
        assert field in response.json()
    assert not LabelBands.objects.exists()


def test_new_bands_leave_pending_labels_alone_unless_asked(
    reviewer: Any, new_image: Callable[..., Any]
) -> None:
    # given a label pending at 80 under the default bands (95 / 60)
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 80.0)]))
    label = ImageLabel.objects.get(image=image)
    assert label.status == LabelStatus.PENDING
    client = APIClient()
    client.force_login(reviewer)
    # when the bands drop to 75 without apply_to_pending, then the label stays pending
    client.put("/api/v1/label-bands/", {"auto_accept": 75, "auto_reject": 50}, format="json")
    label.refresh_from_db()
    assert label.status == LabelStatus.PENDING
    # when they are set again with apply_to_pending, then the label is approved automatically
    response = client.put(
        "/api/v1/label-bands/",
        {"auto_accept": 75, "auto_reject": 50, "apply_to_pending": True},
        format="json",
    )
    assert response.status_code == 200
    label.refresh_from_db()
    assert label.status == LabelStatus.APPROVED and label.decided_automatically


@pytest.mark.parametrize("role", ROLES)
def test_section_bands_read_and_update_by_role(
    request: pytest.FixtureRequest, role: str, polar: Section, settings: Any
) -> None:
    settings.LABEL_AUTO_ACCEPT, settings.LABEL_AUTO_REJECT = 95, 60
    client = api(request, role)
    read = client.get(f"/api/v1/sections/{polar.pk}/bands/")
    write = client.put(
        f"/api/v1/sections/{polar.pk}/bands/", {"auto_accept": 99, "auto_reject": 20}, format="json"
    )
    if role in REVIEWERS:
        # then Polar inherits the global bands until it has its own
        assert read.status_code == 200
        assert (read.json()["section_id"], read.json()["auto_accept"], read.json()["inherited"]) == (
            polar.pk,
            95.0,
            True,
        )
        assert write.status_code == 200
        assert (write.json()["auto_accept"], write.json()["auto_reject"], write.json()["inherited"]) == (
            99.0,
            20.0,
            False,
        )
        assert LabelBands.objects.get(section=polar).auto_accept == 99.0
        # and the global bands are untouched
        assert client.get("/api/v1/label-bands/").json()["auto_accept"] == 95.0
    else:
        assert read.status_code == 403 and write.status_code == 403
        assert not LabelBands.objects.exists()


def test_section_bands_of_an_unknown_section_are_404(reviewer: Any) -> None:
    client = APIClient()
    client.force_login(reviewer)
    assert client.get("/api/v1/sections/999999/bands/").status_code == 404
    put = client.put("/api/v1/sections/999999/bands/", {"auto_accept": 90, "auto_reject": 50}, format="json")
    assert put.status_code == 404


# --- per-market moderation policies ----------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_policy_list_by_role(
    request: pytest.FixtureRequest, role: str, au: Any, de: Any, admin_user: Any
) -> None:
    moderation_policy_set(actor=admin_user, market=au, category="Violence", block_at=60)
    moderation_policy_set(actor=admin_user, market=de, category="Drugs", block_at=50)
    client = api(request, role)
    response = client.get("/api/v1/markets/AU/moderation-policies/")
    other = client.get("/api/v1/markets/DE/moderation-policies/")
    unknown = client.get("/api/v1/markets/ZZ/moderation-policies/")
    if role in AU_MODERATORS:
        assert response.status_code == 200
        assert [(p["market"], p["category"], p["block_at"]) for p in response.json()] == [
            ("AU", "Violence", 60.0)
        ]
    else:
        assert response.status_code == 403
    # The AU manager manages AU (and AU-OPTUS), not DE.
    assert other.status_code == (200 if role == "admin_user" else 403)
    assert unknown.status_code == 404


def test_policy_list_query_count_does_not_grow(
    au_manager: Any, au: Any, django_assert_max_num_queries: Any
) -> None:
    client = APIClient()
    client.force_login(au_manager)
    categories = (*MODERATION_CATEGORIES, *LEGACY_MODERATION_CATEGORIES)
    for n, category in enumerate(categories):
        moderation_policy_set(actor=au_manager, market=au, category=category, block_at=50 + n)
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/markets/AU/moderation-policies/")
    assert len(response.json()) == len(categories) == 14


@pytest.mark.parametrize("role", ROLES)
def test_policy_create_by_role(
    request: pytest.FixtureRequest, role: str, au: Any, new_image: Callable[..., Any]
) -> None:
    # given an image with a Violence label at 72
    image = moderated_image(new_image, 72.0)
    # when a role makes AU block Violence at 60
    response = api(request, role).post(
        "/api/v1/markets/AU/moderation-policies/", {"category": "Violence", "block_at": 60}, format="json"
    )
    fresh = ImageAsset.objects.get(pk=image.pk)
    if role in AU_MODERATORS:
        # then the image is blocked in AU with the reason, and republished
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["market"], body["category"], body["block_at"]) == ("AU", "Violence", 60.0)
        block = ImageBlock.objects.get(image=image, market=au)
        assert block.reason == '"Violence" 72 ≥ 60'
        assert fresh.version == image.version + 1 and fresh.version in image_outbox(image)
        entry = AuditEntry.objects.get(action="moderation.policy")
        assert entry.via == "api" and entry.market_code == "AU"
    else:
        assert response.status_code == 403
        assert not MarketModerationPolicy.objects.exists() and not ImageBlock.objects.exists()
        assert fresh.version == image.version


def test_policy_create_in_another_market_or_an_unknown_one(au_manager: Any, de: Any, optus: Any) -> None:
    client = APIClient()
    client.force_login(au_manager)
    body = {"category": "Violence", "block_at": 60}
    assert client.post("/api/v1/markets/DE/moderation-policies/", body, format="json").status_code == 403
    assert client.post("/api/v1/markets/NOPE/moderation-policies/", body, format="json").status_code == 404
    assert client.post("/api/v1/markets/A%00U/moderation-policies/", body, format="json").status_code == 404
    # The partner edition the manager runs is theirs too.
    assert (
        client.post("/api/v1/markets/AU-OPTUS/moderation-policies/", body, format="json").status_code == 201
    )
    assert list(MarketModerationPolicy.objects.values_list("market__code", flat=True)) == ["AU-OPTUS"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"category": "violence", "block_at": 50}, "category"),
        ({"category": "", "block_at": 50}, "category"),
        ({"block_at": 50}, "category"),
        ({"category": "x" * 201, "block_at": 50}, "category"),
        ({"category": "Drugs", "block_at": 100.1}, "block_at"),
        ({"category": "Drugs", "block_at": "often"}, "block_at"),
        ({"category": "Drugs"}, "block_at"),
    ],
)
def test_policy_create_refuses_bad_input_with_field_errors(
    au_manager: Any, au: Any, payload: dict[str, Any], field: str
) -> None:
    moderation_policy_set(actor=au_manager, market=au, category="Violence", block_at=60)
    client = APIClient()
    client.force_login(au_manager)
    response = client.post("/api/v1/markets/AU/moderation-policies/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert list(MarketModerationPolicy.objects.values_list("category", "block_at")) == [("Violence", 60.0)]


@pytest.mark.parametrize("role", ROLES)
def test_policy_read_update_delete_by_role(
    request: pytest.FixtureRequest, role: str, au: Any, admin_user: Any, new_image: Callable[..., Any]
) -> None:
    # given AU blocks Violence at 60 and an image at 72 is blocked
    image = moderated_image(new_image, 72.0)
    policy = moderation_policy_set(actor=admin_user, market=au, category="Violence", block_at=60)
    blocked = ImageAsset.objects.get(pk=image.pk)
    url = f"/api/v1/markets/AU/moderation-policies/{policy.pk}/"
    client = api(request, role)
    # when a role reads the policy, raises its threshold to 80, then deletes it
    read = client.get(url)
    raised = client.patch(url, {"block_at": 80}, format="json")
    after_raise = ImageAsset.objects.get(pk=image.pk)
    removed = client.delete(url)
    if role in AU_MODERATORS:
        # then the image is unblocked by the raise (and republished); the delete removes the policy
        assert read.status_code == 200 and read.json()["block_at"] == 60.0
        assert raised.status_code == 200 and raised.json()["block_at"] == 80.0
        assert after_raise.version == blocked.version + 1 and after_raise.version in image_outbox(image)
        assert not ImageBlock.objects.exists()
        assert removed.status_code == 204
        assert not MarketModerationPolicy.objects.exists()
        assert client.get(url).status_code == 404
        actions = set(AuditEntry.objects.filter(via="api").values_list("action", flat=True))
        assert actions == {"moderation.policy", "moderation.policy_delete"}
    else:
        assert (read.status_code, raised.status_code, removed.status_code) == (403, 403, 403)
        assert MarketModerationPolicy.objects.get().block_at == 60.0
        assert ImageBlock.objects.filter(image=image, market=au).exists()


def test_policy_update_refuses_bad_thresholds_and_foreign_policies(admin_user: Any, au: Any, de: Any) -> None:
    policy = moderation_policy_set(actor=admin_user, market=au, category="Violence", block_at=60)
    german = moderation_policy_set(actor=admin_user, market=de, category="Drugs", block_at=50)
    client = APIClient()
    client.force_login(admin_user)
    url = f"/api/v1/markets/AU/moderation-policies/{policy.pk}/"
    for bad in [{"block_at": -5}, {"block_at": "x"}, {}]:
        response = client.patch(url, bad, format="json")
        assert response.status_code == 400 and "block_at" in response.json()
    # DE's policy is not reachable through AU's URL; unknown ids and markets are 404.
    assert client.get(f"/api/v1/markets/AU/moderation-policies/{german.pk}/").status_code == 404
    assert client.delete(f"/api/v1/markets/AU/moderation-policies/{german.pk}/").status_code == 404
    assert client.get("/api/v1/markets/ZZ/moderation-policies/1/").status_code == 404
    assert MarketModerationPolicy.objects.count() == 2
    policy.refresh_from_db()
    assert policy.block_at == 60.0


def test_a_name_taken_by_a_concurrent_request_is_a_field_error(
    reviewer: Any, polar: Section, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the up-front name check misses a section created meanwhile (as two requests racing would)
    section_create(actor=reviewer, name="Ocean")
    monkeypatch.setattr("content.labels.services.sections._section_name", lambda name, **_: name)
    client = APIClient()
    client.force_login(reviewer)
    # when a section is created or renamed with the taken name, then the unique constraint answers 400
    created = client.post("/api/v1/sections/", {"name": "Ocean"}, format="json")
    renamed = client.patch(f"/api/v1/sections/{polar.pk}/", {"name": "Ocean"}, format="json")
    assert created.status_code == 400 and "already exists" in created.json()["name"][0]
    assert renamed.status_code == 400 and "already exists" in renamed.json()["name"][0]
    assert sorted(Section.objects.values_list("name", flat=True)) == ["Ocean", "Polar"]


def test_section_list_pages_by_cursor_and_refuses_a_forged_cursor(reviewer: Any) -> None:
    for name in ["Arctic", "Desert", "Ocean"]:
        section_create(actor=reviewer, name=name)
    client = APIClient()
    client.force_login(reviewer)
    first = client.get("/api/v1/sections/?page_size=2").json()
    assert [s["name"] for s in first["results"]] == ["Arctic", "Desert"]
    second = client.get(first["next"]).json()
    assert [s["name"] for s in second["results"]] == ["Ocean"] and second["next"] is None
    forged = client.get("/api/v1/sections/?cursor=forged")
    assert forged.status_code == 400 and "cursor" in forged.json()
