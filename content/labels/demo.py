"""Demo images for `manage.py demo_data`: generated landscapes, labelled by the fake labeller.

Idempotent: images are keyed by checksum and the same ~60 pictures are generated every run.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from content.labels import jobs
from content.labels.labellers.fake import FakeLabeller
from content.labels.models import Section, SectionMapping
from content.labels.services import (
    image_link_item,
    images_upload,
    moderation_policy_set,
    section_create,
    section_mapping_set,
)
from content.models import ContentItem
from markets.models import Market

DEMO_IMAGE_COUNT = 60
PALETTES = [
    ((200, 225, 245), (245, 250, 255), (150, 180, 210)),  # ice
    ((20, 70, 130), (90, 160, 210), (230, 240, 250)),  # ocean
    ((30, 80, 40), (90, 140, 70), (200, 220, 180)),  # forest
    ((230, 190, 120), (250, 220, 160), (120, 170, 220)),  # desert
    ((60, 60, 70), (140, 140, 160), (240, 200, 150)),  # dusk
]


def demo_image(index: int) -> bytes:
    """Return a small, deterministic landscape PNG (sky gradient, hills, a sun) for `index`."""
    rng = random.Random(index * 7919)
    width, height = 320 + rng.randint(0, 160), 200 + rng.randint(0, 100)
    ground, sky_top, sky_bottom = PALETTES[index % len(PALETTES)]
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(sky_top, sky_bottom, strict=True)),
        )
    horizon = int(height * rng.uniform(0.5, 0.75))
    points = [(0, height)]
    for x in range(0, width + 40, 40):
        points.append((x, horizon + rng.randint(-30, 20)))
    points.append((width, height))
    draw.polygon(points, fill=ground)
    r = rng.randint(12, 26)
    cx, cy = rng.randint(r, width - r), rng.randint(r, horizon // 2 + r)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 236, 170))
    # A few pixels of noise keyed on the index make every checksum (and so every fake result) differ.
    for n in range(8):
        img.putpixel((n, 0), (index % 256, (index * 3 + n) % 256, (index * 7) % 256))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def load_label_demo(count: int = DEMO_IMAGE_COUNT) -> dict[str, int]:
    """Upload the demo images, label them with the fake labeller, set up Polar and DE's policy."""
    items = list(ContentItem.objects.filter(item_tags__tag__slug="polar").order_by("-published_at")[:count])
    files = [(f"demo-landscape-{n:02d}.png", demo_image(n)) for n in range(count)]
    created = 0
    for start in range(0, len(files), 20):
        chunk = files[start : start + 20]
        result = images_upload(actor=None, files=chunk, via="command")
        created += len(result.created)
        for offset, image in enumerate(result.created):
            index = start + offset
            if index < len(items) and image.item_id is None:
                image_link_item(actor=None, image=image, item=items[index], via="command")
    polar = Section.objects.filter(name="Polar").first() or section_create(
        actor=None, name="Polar", via="command"
    )
    for name in ("Glacier", "Snow", "Ice"):
        if not SectionMapping.objects.filter(section=polar, label_name=name).exists():
            section_mapping_set(actor=None, section=polar, label_name=name, min_confidence=90, via="command")
    de = Market.objects.filter(code="DE").first()
    if de is not None and not de.moderation_policies.filter(category="Violence").exists():
        moderation_policy_set(actor=None, market=de, category="Violence", block_at=60, via="command")
    summary = jobs.process(labeller=FakeLabeller())
    return {"created": created, "labelled": summary.done, "failed": summary.dead}
