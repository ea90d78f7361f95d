"""Browser test: a reviewer approves and rejects labels with the keyboard, and the image joins its section."""

from __future__ import annotations

from typing import Any

import pytest

from content.labels.labellers.base import Box, DetectedLabel, Instance, LabellingResult
from content.labels.models import ImageLabel, LabelStatus
from content.labels.services import image_labels_store, images_upload, section_create, section_mapping_set
from tests.browser import SCREENSHOTS
from tests.labels.conftest import make_image

pytestmark = pytest.mark.e2e


@pytest.fixture
def labelled_image(transactional_db: None, reviewer: Any) -> Any:
    polar = section_create(actor=None, name="Polar")
    section_mapping_set(actor=None, section=polar, label_name="Glacier", min_confidence=90)
    image = images_upload(actor=None, files=[("glacier.png", make_image((480, 320)))], via="command").created[
        0
    ]
    box = Instance(box=Box(left=0.1, top=0.2, width=0.5, height=0.4), confidence=92.0)
    image_labels_store(
        image_id=image.pk,
        result=LabellingResult(
            backend="fake",
            labels=(
                DetectedLabel(name="Glacier", confidence=92.0, parents=("Ice",), instances=(box,)),
                DetectedLabel(name="Person", confidence=70.0),
            ),
            label_model_version="fake-1",
            moderation_model_version="fake-1",
        ),
    )
    reviewer.set_password("pw-for-e2e")
    reviewer.save()
    return image, polar


def test_reviewer_approves_and_rejects_with_the_keyboard(
    live_server: Any, labelled_image: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    image, polar = labelled_image
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    # given the reviewer is logged in and opens the queue
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", "pw-for-e2e")
    page.press("#id_password", "Enter")
    page.goto(f"{live_server.url}/labels/")
    expect(page.locator("#queue-grid .thumb-card")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "labels-queue.png"), full_page=True)
    # when she opens the image with the keyboard (j focuses it, Enter opens it)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/labels/images/{image.pk}/**")
    glacier = ImageLabel.objects.get(image=image, name="Glacier")
    person = ImageLabel.objects.get(image=image, name="Person")
    expect(page.locator(f"#label-{glacier.pk}")).to_be_focused()
    expect(page.locator("svg.boxes rect")).to_have_count(1)
    # and presses a on Glacier, which moves the focus to Person, then r
    page.keyboard.press("a")
    expect(page.locator(f"#label-{glacier.pk}")).to_have_attribute("data-status", "approved")
    expect(page.locator(f"#label-{person.pk}")).to_be_focused()
    page.keyboard.press("r")
    expect(page.locator(f"#label-{person.pk}")).to_have_attribute("data-status", "rejected")
    # then the decisions are stored with who made them, and the image shows its section
    expect(page.locator("#image-sections")).to_contain_text("Polar")
    expect(page.locator(f"#label-{glacier.pk} .decision")).to_contain_text("by reviewer")
    expect(page.locator("#pending-count")).to_have_text("0")
    page.screenshot(path=str(SCREENSHOTS / "labels-review.png"), full_page=True)
    glacier.refresh_from_db()
    person.refresh_from_db()
    assert glacier.status == LabelStatus.APPROVED and glacier.decided_by.username == "reviewer"
    assert person.status == LabelStatus.REJECTED
    # and the image appears in the Polar section
    page.goto(f"{live_server.url}/labels/sections/{polar.pk}/")
    expect(page.locator(f'#section-images a[data-image-id="{image.pk}"]')).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "labels-section.png"), full_page=True)
