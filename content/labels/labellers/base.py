"""The labeller adapter interface, its result types, and the parsers of Rekognition's responses.

Both adapters (`rekognition`, `fake`) produce responses in Rekognition's own shape and turn them
into results with the same parsers, so the fake exercises the production parsing path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class LabellerError(Exception):
    """Labelling failed; `final` errors (bad object, bad format) are never retried."""

    def __init__(self, message: str, *, code: str = "", final: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.final = final

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class ImageRef:
    """Where the labeller finds an image: an S3 object (bucket, key) and its checksum."""

    bucket: str
    key: str
    checksum: str


@dataclass(frozen=True)
class Box:
    """A bounding box in ratios of the EXIF-oriented image (may fall slightly outside 0–1)."""

    left: float
    top: float
    width: float
    height: float

    def as_dict(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Instance:
    box: Box
    confidence: float


@dataclass(frozen=True)
class DetectedLabel:
    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class DetectedModeration:
    name: str
    parent_name: str
    top_category: str
    confidence: float
    taxonomy_level: int | None


@dataclass(frozen=True)
class LabellingResult:
    """Everything one image's labelling produced, with the model versions that produced it."""

    backend: str
    labels: tuple[DetectedLabel, ...]
    label_model_version: str
    moderation: tuple[DetectedModeration, ...] = field(default=())
    moderation_model_version: str = ""


class Labeller(Protocol):
    """Labels one image; raises LabellerError (final or not) when it cannot."""

    name: str

    def label(self, image: ImageRef) -> LabellingResult: ...


def _names(entries: Any) -> tuple[str, ...]:
    return tuple(str(e["Name"]) for e in entries or () if e.get("Name"))


def parse_detect_labels(response: Mapping[str, Any]) -> tuple[tuple[DetectedLabel, ...], str]:
    """Return the labels and the label model version of a DetectLabels response."""
    labels = []
    for raw in response.get("Labels", ()):
        instances = []
        for inst in raw.get("Instances", ()) or ():
            bb = inst.get("BoundingBox") or {}
            if not bb:
                continue
            instances.append(
                Instance(
                    box=Box(
                        left=float(bb.get("Left", 0.0)),
                        top=float(bb.get("Top", 0.0)),
                        width=float(bb.get("Width", 0.0)),
                        height=float(bb.get("Height", 0.0)),
                    ),
                    confidence=float(inst.get("Confidence", raw.get("Confidence", 0.0))),
                )
            )
        labels.append(
            DetectedLabel(
                name=str(raw["Name"]),
                confidence=float(raw.get("Confidence", 0.0)),
                parents=_names(raw.get("Parents")),
                categories=_names(raw.get("Categories")),
                aliases=_names(raw.get("Aliases")),
                instances=tuple(instances),
            )
        )
    return tuple(labels), str(response.get("LabelModelVersion", ""))


def parse_detect_moderation_labels(
    response: Mapping[str, Any],
) -> tuple[tuple[DetectedModeration, ...], str]:
    """Return the moderation labels (with their top-level category) and the model version.

    Model v6 responses carry no TaxonomyLevel and no ModerationModelVersion; v7 has three levels.
    The top-level category is found by following ParentName up within the response.
    """
    raw_labels = list(response.get("ModerationLabels", ()))
    parent_of = {str(r["Name"]): str(r.get("ParentName") or "") for r in raw_labels}

    def top(name: str) -> str:
        seen = set()
        while parent_of.get(name) and name not in seen:
            seen.add(name)
            name = parent_of[name]
        return name

    result = []
    for raw in raw_labels:
        name = str(raw["Name"])
        parent = str(raw.get("ParentName") or "")
        level = raw.get("TaxonomyLevel")
        result.append(
            DetectedModeration(
                name=name,
                parent_name=parent,
                top_category=top(name) if parent else name,
                confidence=float(raw.get("Confidence", 0.0)),
                taxonomy_level=int(level) if level is not None else None,
            )
        )
    return tuple(result), str(response.get("ModerationModelVersion", ""))
