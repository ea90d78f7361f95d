"""Fixtures for the image-label suites: real generated images, labelled images, sections."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from content.labels.labellers.base import DetectedLabel, DetectedModeration, LabellingResult
from content.labels.models import ImageAsset
from content.labels.services import images_upload

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """Return one Rekognition response fixture (real shapes, validated against botocore's model)."""
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def make_image(
    size: tuple[int, int] = (200, 120),
    fmt: str = "PNG",
    color: tuple[int, int, int] = (30, 120, 200),
    exif_orientation: int | None = None,
) -> bytes:
    """Return real image bytes made with Pillow; each distinct colour gives a distinct checksum."""
    img = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(out, format=fmt, exif=exif.tobytes())
    else:
        img.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def png() -> Callable[..., bytes]:
    counter = iter(range(1, 10_000))

    def make(**kwargs: Any) -> bytes:
        n = next(counter)
        kwargs.setdefault("color", (n % 256, (n * 7) % 256, (n * 13) % 256))
        return make_image(**kwargs)

    return make


def result(
    labels: list[tuple[str, float]] | None = None,
    moderation: list[tuple[str, str, str, float, int | None]] | None = None,
    backend: str = "fake",
) -> LabellingResult:
    """Build a result: labels as (name, confidence); moderation as (name, parent, top, conf, level)."""
    return LabellingResult(
        backend=backend,
        labels=tuple(DetectedLabel(name=n, confidence=c) for n, c in labels or []),
        label_model_version="fake-1",
        moderation=tuple(
            DetectedModeration(name=n, parent_name=p, top_category=t, confidence=c, taxonomy_level=lv)
            for n, p, t, c, lv in moderation or []
        ),
        moderation_model_version="fake-1",
    )


@pytest.fixture
def new_image(db: None, png: Callable[..., bytes]) -> Callable[..., ImageAsset]:
    """Return a function that uploads one real image (as the system) and returns it, still queued."""

    def make(name: str = "photo.png", **kwargs: Any) -> ImageAsset:
        return images_upload(actor=None, files=[(name, png(**kwargs))], via="command").created[0]

    return make
