"""Images are bounded by pixels (from the header, before decoding) and by their total per request."""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from content.labels.labellers.validation import MAX_PIXELS, validate_image
from content.labels.models import ImageAsset
from content.labels.services import images_upload
from tests.labels.conftest import make_image


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG that claims width × height: what a decompression bomb looks like from outside."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width * 3 + 1) * 4, 9)  # a few rows; the rest would follow
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_a_9999_square_png_is_refused_from_its_header_at_once() -> None:
    # given a small file that claims 9,999 × 9,999 pixels (≈ 100 megapixels)
    bomb = png_header_only(9_999, 9_999)
    started = time.perf_counter()
    # when it is validated, then it is refused for its pixels without being decoded
    with pytest.raises(ValidationError) as refused:
        validate_image(bomb, name="bomb.png")
    assert refused.value.code == "too_big_pixels"
    assert f"{MAX_PIXELS:,}" in refused.value.messages[0]
    assert time.perf_counter() - started < 1.0


def test_just_over_the_pixel_limit_is_refused_even_with_sides_within_rekognitions() -> None:
    with pytest.raises(ValidationError) as refused:
        validate_image(png_header_only(8_000, MAX_PIXELS // 8_000 + 1), name="big.png")
    assert refused.value.code == "too_big_pixels"


@pytest.mark.django_db
def test_the_images_of_one_request_are_bounded_together(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a per-request limit smaller than two images together
    one = make_image((200, 120), color=(1, 2, 3))
    two = make_image((200, 120), color=(4, 5, 6))
    monkeypatch.setattr("content.labels.services.images.MAX_REQUEST_BYTES", len(one) + len(two) - 1)
    # when both are uploaded at once, then the request is refused and nothing is stored
    with pytest.raises(ValidationError) as refused:
        images_upload(actor=admin_user, files=[("one.png", one), ("two.png", two)])
    assert "per request" in str(refused.value)
    assert not ImageAsset.objects.exists()


@pytest.mark.django_db
def test_pixels_of_one_request_are_bounded_together(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("content.labels.services.images.MAX_REQUEST_PIXELS", 200 * 120 * 2 - 1)
    files = [
        ("a.png", make_image((200, 120), color=(7, 8, 9))),
        ("b.png", make_image((200, 120), color=(9, 8, 7))),
    ]
    with pytest.raises(ValidationError) as refused:
        images_upload(actor=admin_user, files=files)
    assert "pixels together" in str(refused.value)
