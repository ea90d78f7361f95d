"""The embedded labeller: deterministic, Rekognition-shaped answers chosen from the image checksum.

It never touches the network. It builds DetectLabels / DetectModerationLabels responses from the
fixtures next to this module, nudges confidences by amounts derived from the checksum (so a
demo queue has a spread of confidences), and parses them with the production parsers. Its model
version is "fake-1" and the UI marks its results as not real.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from content.labels.labellers.base import (
    ImageRef,
    LabellerError,
    LabellingResult,
    parse_detect_labels,
    parse_detect_moderation_labels,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODEL_VERSION = "fake-1"
LABEL_SCENES = (
    "fake_detect_labels__polar.json",
    "fake_detect_labels__ocean.json",
    "fake_detect_labels__forest.json",
    "fake_detect_labels__desert.json",
    "detect_labels__aws_docs_mobile_phone__corrected.json",
)
CLEAN = "detect_moderation_labels__clean.json"
# One image in eight gets a moderation finding; violence more often than smoking.
MODERATION_FINDINGS = (
    "fake_detect_moderation_labels__violence.json",
    "fake_detect_moderation_labels__violence.json",
    "detect_moderation_labels__aws_docs_v7_smoking.json",
)


@cache
def _fixture(name: str) -> dict[str, Any]:
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _digest(checksum: str) -> bytes:
    try:
        return bytes.fromhex(checksum)
    except ValueError as exc:
        raise LabellerError("The image checksum is not hexadecimal.", code="FakeInput", final=True) from exc


def fake_responses(checksum: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (DetectLabels, DetectModerationLabels) responses the fake gives for `checksum`."""
    digest = _digest(checksum)
    if len(digest) < 8:
        raise LabellerError("The image checksum is too short.", code="FakeInput", final=True)
    labels = copy.deepcopy(_fixture(LABEL_SCENES[digest[0] % len(LABEL_SCENES)]))
    for index, label in enumerate(labels["Labels"]):
        # A deterministic nudge of -15..+5 points, so some labels fall below the auto-accept band.
        nudge = (digest[(index + 1) % len(digest)] % 21) - 15
        confidence = max(50.0, min(99.9, float(label["Confidence"]) + nudge))
        label["Confidence"] = confidence
        for instance in label.get("Instances", ()):
            instance["Confidence"] = confidence
    labels["LabelModelVersion"] = MODEL_VERSION
    labels.pop("ImageProperties", None)
    if digest[1] % 8 == 0:
        moderation = copy.deepcopy(_fixture(MODERATION_FINDINGS[digest[2] % len(MODERATION_FINDINGS)]))
    else:
        moderation = copy.deepcopy(_fixture(CLEAN))
    moderation["ModerationModelVersion"] = MODEL_VERSION
    return labels, moderation


class FakeLabeller:
    """Deterministic stand-in for Rekognition; honours LABEL_MIN_CONFIDENCE like the real one."""

    name = "fake"

    def __init__(self, *, min_confidence: float | None = None) -> None:
        self.min_confidence = float(
            settings.LABEL_MIN_CONFIDENCE if min_confidence is None else min_confidence
        )

    def label(self, image: ImageRef) -> LabellingResult:
        labels_response, moderation_response = fake_responses(image.checksum)
        labels, label_version = parse_detect_labels(labels_response)
        moderation, moderation_version = parse_detect_moderation_labels(moderation_response)
        return LabellingResult(
            backend=self.name,
            labels=tuple(label for label in labels if label.confidence >= self.min_confidence),
            label_model_version=label_version,
            moderation=tuple(m for m in moderation if m.confidence >= self.min_confidence),
            moderation_model_version=moderation_version,
        )
