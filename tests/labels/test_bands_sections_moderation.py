"""Confidence bands, sections and per-market moderation policies, given / when / then."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from content.labels.models import ImageBlock, ImageLabel, LabelStatus, Section
from content.labels.selectors import (
    blocked_images_by_item,
    image_sections,
    image_shared_items,
    section_admission,
    section_image_ids,
)
from content.labels.services import (
    bands_set,
    image_labels_store,
    labels_decide,
    moderation_policy_delete,
    moderation_policy_set,
    section_create,
    section_mapping_delete,
    section_mapping_set,
)
from portal.shared_tables.models import OutboxEntry, OutboxKind
from tests.factories import ContentItemFactory
from tests.labels.conftest import result


def statuses(image: Any) -> dict[str, tuple[str, bool]]:
    return {
        label.name: (label.status, label.decided_automatically)
        for label in ImageLabel.objects.filter(image=image)
    }


# --- bands -----------------------------------------------------------------------------------


def test_global_bands_from_settings_decide_automatically(new_image: Any, settings: Any) -> None:
    # given the default bands: approve ≥ 95, reject < 60
    settings.LABEL_AUTO_ACCEPT, settings.LABEL_AUTO_REJECT = 95, 60
    image = new_image()
    # when labels at, between and below the thresholds arrive
    image_labels_store(
        image_id=image.pk, result=result([("Glacier", 95.0), ("Snow", 80.0), ("Person", 59.9)])
    )
    # then each is approved, queued or rejected; the automatic decisions are marked "auto"
    assert statuses(image) == {
        "Glacier": (LabelStatus.APPROVED, True),
        "Snow": (LabelStatus.PENDING, False),
        "Person": (LabelStatus.REJECTED, True),
    }
    label = ImageLabel.objects.get(image=image, name="Glacier")
    assert label.decided_by is None and label.decided_at is not None and label.model_version == "fake-1"


def test_stored_global_bands_override_settings(new_image: Any, reviewer: Any) -> None:
    bands_set(actor=reviewer, section=None, auto_accept=80, auto_reject=70)
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 80.0), ("Ice", 75.0), ("Sky", 69.0)]))
    assert statuses(image) == {
        "Snow": (LabelStatus.APPROVED, True),
        "Ice": (LabelStatus.PENDING, False),
        "Sky": (LabelStatus.REJECTED, True),
    }


def test_a_sections_bands_apply_to_its_labels_only(new_image: Any, reviewer: Any) -> None:
    # given Polar maps Glacier and has stricter bands than the global ones
    polar = section_create(actor=reviewer, name="Polar")
    section_mapping_set(actor=reviewer, section=polar, label_name="Glacier", min_confidence=90)
    bands_set(actor=reviewer, section=polar, auto_accept=99, auto_reject=50)
    image = new_image()
    # when Glacier and an unmapped label arrive at 96
    image_labels_store(image_id=image.pk, result=result([("Glacier", 96.0), ("Sky", 96.0)]))
    # then Glacier waits for a person, Sky follows the global band
    assert statuses(image)["Glacier"] == (LabelStatus.PENDING, False)
    assert statuses(image)["Sky"] == (LabelStatus.APPROVED, True)


def test_bands_must_be_ordered_and_in_range(reviewer: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        bands_set(actor=reviewer, section=None, auto_accept=60, auto_reject=70)
    assert "auto_reject" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        bands_set(actor=reviewer, section=None, auto_accept=101, auto_reject="x")
    assert set(raised.value.message_dict) == {"auto_accept", "auto_reject"}


def test_new_bands_can_be_applied_to_pending_labels(new_image: Any, reviewer: Any) -> None:
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 85.0)]))
    bands_set(actor=reviewer, section=None, auto_accept=85, auto_reject=10, apply_to_pending=True)
    assert statuses(image)["Snow"] == (LabelStatus.APPROVED, True)


def test_a_persons_decision_survives_relabelling(new_image: Any, reviewer: Any) -> None:
    # given a reviewer rejected Person
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Person", 80.0)]))
    labels_decide(actor=reviewer, label_ids=[ImageLabel.objects.get(image=image).pk], status="rejected")
    # when the image is labelled again
    image_labels_store(image_id=image.pk, result=result([("Person", 81.0)]))
    # then the decision is kept, with the new confidence
    label = ImageLabel.objects.get(image=image)
    assert (label.status, label.decided_by, label.confidence) == ("rejected", reviewer, 81.0)


def test_decisions_record_who_and_when_and_bump_the_image(new_image: Any, reviewer: Any) -> None:
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 80.0)]))
    image.refresh_from_db()
    version = image.version
    label = ImageLabel.objects.get(image=image)
    outcome = labels_decide(actor=reviewer, label_ids=[label.pk], status="approved")
    label.refresh_from_db()
    image.refresh_from_db()
    assert outcome.changed == 1
    assert (label.status, label.decided_by, label.decided_at is not None) == ("approved", reviewer, True)
    assert image.version == version + 1
    assert OutboxEntry.objects.filter(
        kind=OutboxKind.IMAGE, key=str(image.pk), version=image.version
    ).exists()
    # deciding the same again changes nothing
    assert labels_decide(actor=reviewer, label_ids=[label.pk], status="approved").unchanged == 1


def test_a_decision_on_unknown_labels_is_refused_atomically(new_image: Any, reviewer: Any) -> None:
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Snow", 80.0)]))
    label = ImageLabel.objects.get(image=image)
    with pytest.raises(ValidationError):
        labels_decide(actor=reviewer, label_ids=[label.pk, 999_999], status="approved")
    label.refresh_from_db()
    assert label.status == LabelStatus.PENDING
    with pytest.raises(ValidationError):
        labels_decide(actor=reviewer, label_ids=[label.pk], status="maybe")


# --- sections --------------------------------------------------------------------------------


@pytest.fixture
def polar(reviewer: Any) -> Section:
    section = section_create(actor=reviewer, name="Polar")
    for name in ("Glacier", "Snow", "Ice"):
        section_mapping_set(actor=reviewer, section=section, label_name=name, min_confidence=90)
    return section


def test_an_image_joins_a_section_only_through_an_approved_label_at_the_threshold(
    new_image: Any, reviewer: Any, polar: Section
) -> None:
    # given three images: Glacier 92 pending, Glacier 88 pending, Snow 91 pending
    a, b, c = new_image(), new_image(), new_image()
    image_labels_store(image_id=a.pk, result=result([("Glacier", 92.0)]))
    image_labels_store(image_id=b.pk, result=result([("Glacier", 88.0)]))
    image_labels_store(image_id=c.pk, result=result([("Snow", 91.0)]))
    assert list(section_image_ids(section=polar)) == []
    # when the reviewer approves all three labels
    labels_decide(
        actor=reviewer, label_ids=list(ImageLabel.objects.values_list("pk", flat=True)), status="approved"
    )
    # then only the images at 90 or more are in Polar
    assert set(section_image_ids(section=polar)) == {a.pk, c.pk}
    assert image_sections([a.pk, b.pk, c.pk]) == {a.pk: ["Polar"], c.pk: ["Polar"]}


def test_admission_counts_what_a_threshold_would_admit(new_image: Any, reviewer: Any, polar: Section) -> None:
    images = [new_image() for _ in range(3)]
    for image, confidence in zip(images, (92.0, 87.0, 80.0), strict=True):
        image_labels_store(image_id=image.pk, result=result([("Glacier", confidence)]))
    labels_decide(
        actor=reviewer, label_ids=list(ImageLabel.objects.values_list("pk", flat=True)), status="approved"
    )
    admission = section_admission(section=polar, label_name="Glacier", min_confidence=85)
    assert (admission.by_label, admission.section_now, admission.section_then) == (2, 1, 2)
    assert admission.difference == 1


def test_moving_a_threshold_bumps_the_images_that_join_or_leave(
    new_image: Any, reviewer: Any, polar: Section
) -> None:
    # given an approved Glacier at 87, outside Polar at 90
    image = new_image()
    image_labels_store(image_id=image.pk, result=result([("Glacier", 87.0)]))
    labels_decide(actor=reviewer, label_ids=[ImageLabel.objects.get(image=image).pk], status="approved")
    image.refresh_from_db()
    version = image.version
    # when Glacier's threshold moves to 85
    section_mapping_set(actor=reviewer, section=polar, label_name="glacier", min_confidence=85)
    # then the image joins, and its shared item gets a new version
    image.refresh_from_db()
    assert image.version == version + 1
    assert image_shared_items([image.pk])[str(image.pk)]["sections"] == ["Polar"]
    # and removing the mapping takes it out again
    section_mapping_delete(actor=reviewer, mapping=polar.mappings.get(label_name="Glacier"))
    assert image_shared_items([image.pk])[str(image.pk)]["sections"] == []


def test_section_input_is_validated(reviewer: Any, polar: Section) -> None:
    with pytest.raises(ValidationError):
        section_create(actor=reviewer, name="polar")
    with pytest.raises(ValidationError) as raised:
        section_mapping_set(actor=reviewer, section=polar, label_name=" ", min_confidence=120)
    assert set(raised.value.message_dict) == {"label_name", "min_confidence"}


# --- moderation ------------------------------------------------------------------------------

VIOLENCE = [
    ("Violence", "", "Violence", 72.0, 1),
    ("Weapon Violence", "Violence", "Violence", 72.0, 2),
    ("Graphic Violence", "Weapon Violence", "Violence", 95.0, 3),
]


def test_a_market_blocks_at_or_above_its_threshold_with_the_reason(new_image: Any, de: Any, us: Any) -> None:
    # given DE blocks Violence at 60 and US at 80
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    moderation_policy_set(actor=None, market=us, category="Violence", block_at=80)
    image = new_image()
    # when an image with Violence 72 (and a level-3 label at 95) is labelled
    image_labels_store(image_id=image.pk, result=result(moderation=VIOLENCE))
    # then it is blocked in DE only, named by the top-level label (level 3 is too specific)
    (block,) = ImageBlock.objects.filter(image=image)
    assert (block.market, block.label_name, block.confidence, block.threshold) == (de, "Violence", 72.0, 60.0)
    item = image_shared_items([image.pk])[str(image.pk)]
    assert item["blocked_markets"] == [
        {
            "market": "DE",
            "category": "Violence",
            "label": "Violence",
            "confidence": 72.0,
            "threshold": 60.0,
            "reason": 'blocked in DE: "Violence" 72 ≥ 60',
        }
    ]


def test_exactly_at_the_threshold_blocks_and_just_below_does_not(new_image: Any, de: Any) -> None:
    at, below = new_image(), new_image()
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=72)
    image_labels_store(image_id=at.pk, result=result(moderation=[("Violence", "", "Violence", 72.0, 1)]))
    image_labels_store(image_id=below.pk, result=result(moderation=[("Violence", "", "Violence", 71.99, 1)]))
    assert list(ImageBlock.objects.values_list("image_id", flat=True)) == [at.pk]


def test_changing_and_deleting_a_policy_unblocks_and_bumps(new_image: Any, de: Any) -> None:
    image = new_image()
    image_labels_store(image_id=image.pk, result=result(moderation=VIOLENCE))
    policy = moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    assert ImageBlock.objects.filter(image=image).count() == 1
    image.refresh_from_db()
    version = image.version
    moderation_policy_set(actor=None, market=de, category="violence", block_at=80)
    assert not ImageBlock.objects.filter(image=image).exists()
    image.refresh_from_db()
    assert image.version == version + 1
    policy.refresh_from_db()
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=50)
    moderation_policy_delete(actor=None, policy=policy)
    assert not ImageBlock.objects.exists()


def test_policies_are_per_market_for_managers(au: Any, de: Any, au_manager: Any, reviewer: Any) -> None:
    assert moderation_policy_set(actor=au_manager, market=au, category="Violence", block_at=60).pk
    with pytest.raises(AccessDenied):
        moderation_policy_set(actor=au_manager, market=de, category="Violence", block_at=60)
    with pytest.raises(AccessDenied):
        moderation_policy_set(actor=reviewer, market=au, category="Violence", block_at=60)
    with pytest.raises(ValidationError) as raised:
        moderation_policy_set(actor=au_manager, market=au, category="", block_at=-1)
    assert set(raised.value.message_dict) == {"category", "block_at"}


def test_blocked_images_by_item_explains_in_one_query(
    new_image: Any, de: Any, us: Any, django_assert_num_queries: Any
) -> None:
    # given two articles whose images are blocked in DE
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    items = [ContentItemFactory(), ContentItemFactory(), ContentItemFactory()]
    for item in items[:2]:
        image = new_image(name=f"{item.upstream_id}.png")
        image.item = item
        image.save()
        image_labels_store(image_id=image.pk, result=result(moderation=VIOLENCE))
    # when the reasons are asked for all items in DE and US
    with django_assert_num_queries(1):
        reasons = blocked_images_by_item(items, [de, us])
    # then each blocked item has its reason in DE, and nothing else is listed
    assert set(reasons) == {(items[0].pk, de.pk), (items[1].pk, de.pk)}
    assert reasons[(items[0].pk, de.pk)] == [
        f'Image "{items[0].upstream_id}.png" blocked in DE: "Violence" 72 ≥ 60'
    ]
