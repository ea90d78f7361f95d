"""Image labelling: the labeller adapters (Rekognition, fake), validation and the job queue."""

from __future__ import annotations

from django.conf import settings

from content.labels.labellers.base import Labeller, LabellerError

__all__ = ["Labeller", "LabellerError", "get_labeller"]


def get_labeller(backend: str | None = None) -> Labeller:
    """Return the labeller named by `backend` or settings.LABELLER_BACKEND ("fake" or "rekognition").

    Raises LabellerError (final) for an unknown backend name.
    """
    name = backend or settings.LABELLER_BACKEND
    if name == "fake":
        from content.labels.labellers.fake import FakeLabeller

        return FakeLabeller()
    if name == "rekognition":
        from content.labels.labellers.rekognition import RekognitionLabeller

        return RekognitionLabeller()
    raise LabellerError(f"Unknown LABELLER_BACKEND {name!r}: use 'fake' or 'rekognition'.", final=True)
