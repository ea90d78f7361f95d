"""The embedded fake labeller: deterministic, Rekognition-shaped, version fake-1."""

from __future__ import annotations

import hashlib

import pytest

from content.labels.labellers import get_labeller
from content.labels.labellers.base import ImageRef, LabellerError
from content.labels.labellers.fake import FakeLabeller, fake_responses


def ref(seed: str) -> ImageRef:
    return ImageRef(bucket="", key=f"images/{seed}.png", checksum=hashlib.sha256(seed.encode()).hexdigest())


def test_the_same_checksum_always_gives_the_same_result() -> None:
    assert FakeLabeller(min_confidence=50).label(ref("a")) == FakeLabeller(min_confidence=50).label(ref("a"))


def test_results_are_marked_fake_with_model_version_fake_1() -> None:
    result = FakeLabeller().label(ref("b"))
    assert result.backend == "fake"
    assert result.label_model_version == "fake-1"
    assert result.moderation_model_version == "fake-1"
    assert result.labels


def test_responses_have_rekognition_shape() -> None:
    labels, moderation = fake_responses(hashlib.sha256(b"c").hexdigest())
    assert set(labels) == {"Labels", "LabelModelVersion"}
    for label in labels["Labels"]:
        assert {"Name", "Confidence", "Instances", "Parents", "Aliases", "Categories"} <= set(label)
        assert 50.0 <= label["Confidence"] <= 99.9
    assert "ModerationLabels" in moderation and moderation["ModerationModelVersion"] == "fake-1"


def test_different_images_get_a_spread_of_scenes_and_some_moderation_findings() -> None:
    results = [FakeLabeller().label(ref(str(n))) for n in range(80)]
    assert len({r.labels[0].name for r in results}) >= 3
    assert any(r.moderation for r in results)
    assert any(not r.moderation for r in results)


def test_min_confidence_filters_like_rekognition() -> None:
    result = FakeLabeller(min_confidence=90).label(ref("d"))
    assert all(label.confidence >= 90 for label in result.labels)


def test_a_non_hex_checksum_is_a_final_error() -> None:
    with pytest.raises(LabellerError) as raised:
        FakeLabeller().label(ImageRef(bucket="", key="k", checksum="not-hex"))
    assert raised.value.final


def test_settings_pick_the_backend(settings: object) -> None:
    assert get_labeller("fake").name == "fake"
    assert get_labeller("rekognition").name == "rekognition"
    with pytest.raises(LabellerError):
        get_labeller("nonsense")
