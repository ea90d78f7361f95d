"""What a rule may name: content types and tags.

Apps depend one way: content → markets, never back (docs/architecture.md). Rules still need to
know the content types (a fixed list, kept here) and whether a tag exists (content owns tags),
so content registers the tag lookup in its AppConfig.ready() instead of markets importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import models


class ContentType(models.TextChoices):
    ARTICLE = "article", "Article"
    VIDEO = "video", "Video"
    CLIP = "clip", "Clip"
    GALLERY = "gallery", "Gallery"
    IMAGE = "image", "Image"


TagLookup = Callable[[Iterable[str]], set[str]]
_tag_lookup: TagLookup | None = None


def register_tag_lookup(lookup: TagLookup) -> None:
    """Set the function that returns which of the given tag slugs exist (content does this)."""
    global _tag_lookup
    _tag_lookup = lookup


def known_tags(slugs: Iterable[str]) -> set[str]:
    """Return the slugs among `slugs` that name existing tags; RuntimeError if none is registered."""
    if _tag_lookup is None:
        raise RuntimeError("No tag lookup is registered: is the content app installed?")
    return _tag_lookup(slugs)
