"""Validation before any AWS call, with real generated images; EXIF-corrected renditions."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from content.labels.labellers.validation import MAX_BYTES, preview, thumbnail, validate_image
from tests.labels.conftest import make_image


def code_of(data: bytes, name: str = "x.jpg") -> str:
    with pytest.raises(ValidationError) as raised:
        validate_image(data, name=name)
    return str(raised.value.code)


def test_a_jpeg_and_a_png_within_limits_pass_with_their_facts() -> None:
    jpeg, _ = validate_image(make_image((640, 480), "JPEG"), name="a.jpg")
    png, _ = validate_image(make_image((80, 10_000), "PNG"), name="b.png")
    assert (jpeg.content_type, jpeg.width, jpeg.height, jpeg.extension) == ("image/jpeg", 640, 480, "jpg")
    assert (png.content_type, png.width, png.height, png.extension) == ("image/png", 80, 10_000, "png")
    assert len(jpeg.checksum) == 64


def test_too_small_is_refused_with_the_size() -> None:
    with pytest.raises(ValidationError) as raised:
        validate_image(make_image((79, 200)), name="tiny.png")
    assert raised.value.code == "too_small"
    assert "tiny.png is 79×200 px" in raised.value.messages[0]


def test_too_large_in_pixels_is_refused() -> None:
    assert code_of(make_image((10_001, 80)), "wide.png") == "too_big_pixels"


def test_too_large_in_bytes_is_refused_before_decoding() -> None:
    # A real PNG with data appended past IEND: Pillow would open it, the size check comes first.
    data = make_image((100, 100)) + b"\0" * (MAX_BYTES + 1)
    assert code_of(data, "huge.png") == "too_large"
    assert code_of(io.BytesIO(data).read(), "huge.png") == "too_large"


def test_a_gif_is_the_wrong_type_whatever_its_name() -> None:
    with pytest.raises(ValidationError) as raised:
        validate_image(make_image((120, 120), "GIF"), name="cat.jpg")
    assert raised.value.code == "wrong_type"
    assert "GIF" in raised.value.messages[0] and "only JPEG and PNG" in raised.value.messages[0]


def test_a_text_file_named_jpg_is_not_an_image() -> None:
    assert code_of(b"just some words, not a picture\n" * 10, "notes.jpg") == "not_an_image"


def test_an_empty_file_is_refused() -> None:
    assert code_of(b"", "empty.png") == "empty"


def test_a_truncated_png_is_damaged() -> None:
    data = make_image((300, 300))
    assert code_of(data[: len(data) // 2], "cut.png") in {"corrupt", "not_an_image"}


def test_exif_rotated_jpeg_reports_upright_size_and_thumbnail_is_upright() -> None:
    # given a 200×100 JPEG, left half red and right half blue, tagged "rotate 90° clockwise" (6)
    raw = Image.new("RGB", (200, 100), (0, 0, 255))
    raw.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    raw.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    # when it is validated and its renditions are made
    facts, data = validate_image(out.getvalue(), name="rotated.jpg")
    thumb = Image.open(io.BytesIO(thumbnail(data)))
    big = Image.open(io.BytesIO(preview(data)))
    # then width and height are those of the upright image, and the renditions are upright:
    # turned clockwise, the red left half ends up on top.
    assert (facts.width, facts.height) == (100, 200)
    assert thumb.size[0] < thumb.size[1]
    assert big.size == (100, 200)
    top = thumb.getpixel((thumb.size[0] // 2, thumb.size[1] // 4))
    bottom = thumb.getpixel((thumb.size[0] // 2, 3 * thumb.size[1] // 4))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_thumbnails_fit_320_and_keep_the_aspect_ratio() -> None:
    thumb = Image.open(io.BytesIO(thumbnail(make_image((1600, 800), "PNG"))))
    assert thumb.format == "JPEG"
    assert thumb.size == (320, 160)
