"""The scheduled sweep labels a bounded batch, so one run stays inside the Lambda timeout."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from content.labels.models import ImageAsset

pytestmark = pytest.mark.django_db


def test_labels_sweep_processes_at_most_the_sweep_limit(new_image: Any, settings: Any) -> None:
    # given three queued images and a sweep limit of two
    for n in range(3):
        new_image(name=f"photo-{n}.png")
    settings.LABEL_SWEEP_LIMIT = 2
    out = io.StringIO()
    # when the scheduled sweep runs once
    call_command("labels", "sweep", stdout=out)
    # then two are labelled, one still waits for the next run
    assert ImageAsset.objects.filter(status="labelled").count() == 2
    assert ImageAsset.objects.filter(status="queued").count() == 1
    assert "done 2" in out.getvalue()
