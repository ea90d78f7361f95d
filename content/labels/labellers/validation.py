"""Checks every image against Rekognition's limits before any AWS call, and makes renditions.

Rekognition takes JPEG or PNG only, at most 15 MB from S3, each side 80–10,000 px, and botocore
checks none of this. The type is read from the content (Pillow), never from the file name.
Renditions are EXIF-orientation corrected, because Rekognition's boxes are relative to the
oriented image: drawn over an unrotated file they would not line up.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 15 * 1024 * 1024
MIN_SIDE = 80
MAX_SIDE = 10_000
# Decoding cost grows with pixels, not bytes: a 389 KB PNG of 9,999 × 9,999 took 7 s and 370 MB
# to thumbnail. 40 megapixels (an 8,000 × 5,000 photo) is far more than labels need.
MAX_PIXELS = 40_000_000
# Pillow's own bomb guard, with our limit: Image.open() warns past it and refuses at twice it,
# from the header, before anything is decoded. validate_image refuses at the limit itself.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
THUMBNAIL_SIDE = 320
PREVIEW_SIDE = 1200


@dataclass(frozen=True)
class ImageFacts:
    """What validation learnt about a valid image."""

    format: str
    content_type: str
    extension: str
    width: int
    height: int
    byte_size: int
    checksum: str


def _read_limited(source: bytes | IO[bytes], name: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        # Read one byte past the limit: enough to know it is too large without loading more.
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationError(f"{name} is larger than 15 MB, the most Rekognition accepts.", code="too_large")
    if not data:
        raise ValidationError(f"{name} is empty.", code="empty")
    return data


def validate_image(source: bytes | IO[bytes], *, name: str = "The file") -> tuple[ImageFacts, bytes]:
    """Return the facts and bytes of a JPEG or PNG within Rekognition's limits.

    Raises ValidationError (codes: empty, too_large, not_an_image, wrong_type, too_small,
    too_big_pixels, corrupt) with a message naming the file.
    """
    data = _read_limited(source, name)
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_PIXELS and twice it; the header check below refuses instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                raw_width, raw_height = img.size
                # From the header, before verify() or any decoding reads the pixel data.
                if raw_width * raw_height > MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{raw_width}×{raw_height}")
                if fmt in FORMATS:
                    img.verify()
            orientation = 1
            if fmt in FORMATS:
                # verify() leaves the image unusable, so the EXIF block is read from a fresh open.
                with Image.open(io.BytesIO(data)) as img:
                    orientation = int(img.getexif().get(0x0112, 1) or 1)
    except UnidentifiedImageError as exc:
        raise ValidationError(
            f"{name} is not an image Meridian can read: upload a JPEG or PNG.", code="not_an_image"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ValidationError(
            f"{name} has too many pixels ({exc}); at most {MAX_PIXELS:,} pixels and {MAX_SIDE:,} px a side.",
            code="too_big_pixels",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(f"{name} is damaged or truncated ({exc}).", code="corrupt") from exc
    if fmt not in FORMATS:
        raise ValidationError(
            f"{name} is a {fmt or 'unknown'} image; Rekognition accepts only JPEG and PNG.",
            code="wrong_type",
        )
    if min(raw_width, raw_height) < MIN_SIDE:
        raise ValidationError(
            f"{name} is {raw_width}×{raw_height} px; each side must be at least {MIN_SIDE} px.",
            code="too_small",
        )
    if max(raw_width, raw_height) > MAX_SIDE:
        raise ValidationError(
            f"{name} is {raw_width}×{raw_height} px; each side must be at most {MAX_SIDE:,} px.",
            code="too_big_pixels",
        )
    # Orientations 5–8 swap width and height when the image is turned upright.
    width, height = (raw_height, raw_width) if orientation in (5, 6, 7, 8) else (raw_width, raw_height)
    facts = ImageFacts(
        format=fmt,
        content_type=FORMATS[fmt],
        extension=EXTENSIONS[fmt],
        width=width,
        height=height,
        byte_size=len(data),
        checksum=hashlib.sha256(data).hexdigest(),
    )
    return facts, data


def rendition(data: bytes, *, side: int) -> bytes:
    """Return a JPEG of the image, upright (EXIF orientation applied), fitting in `side`×`side`.

    Raises ValidationError (code corrupt) when the image cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                # draft() lets the JPEG decoder scale down while decoding: far less memory on Lambda.
                img.draft("RGB", (side * 2, side * 2))
                upright = ImageOps.exif_transpose(img)
                upright.thumbnail((side, side))
                out = io.BytesIO()
                upright.convert("RGB").save(out, format="JPEG", quality=82, optimize=True)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(f"The image could not be decoded ({exc}).", code="corrupt") from exc
    return out.getvalue()


def thumbnail(data: bytes) -> bytes:
    """Return the grid thumbnail (upright JPEG, ≤ 320 px). Raises ValidationError when undecodable."""
    return rendition(data, side=THUMBNAIL_SIDE)


def preview(data: bytes) -> bytes:
    """Return the review preview (upright JPEG, ≤ 1200 px). Raises ValidationError when undecodable."""
    return rendition(data, side=PREVIEW_SIDE)
