"""The Rekognition adapter against botocore's Stubber and real response fixtures."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from content.labels.jobs import claim, run_job
from content.labels.labellers.base import ImageRef, LabellerError, parse_detect_moderation_labels
from content.labels.labellers.rekognition import RekognitionLabeller, client_config
from content.labels.models import ImageStatus, LabelJobState
from tests.labels.conftest import fixture

REF = ImageRef(bucket="meridian-images", key="images/ab/abc.jpg", checksum="ab" * 32)
S3_IMAGE = {"S3Object": {"Bucket": "meridian-images", "Name": "images/ab/abc.jpg"}}


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "rekognition",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=client_config(),
    )


def labeller_for(client: Any, **kwargs: Any) -> RekognitionLabeller:
    return RekognitionLabeller(client=client, min_confidence=55, **kwargs)


def expect_labels(stubber: Stubber, response: dict[str, Any]) -> None:
    stubber.add_response(
        "detect_labels",
        response,
        expected_params={
            "Image": S3_IMAGE,
            "MaxLabels": 50,
            "MinConfidence": 55.0,
            "Features": ["GENERAL_LABELS"],
        },
    )


def expect_moderation(stubber: Stubber, response: dict[str, Any]) -> None:
    stubber.add_response(
        "detect_moderation_labels", response, expected_params={"Image": S3_IMAGE, "MinConfidence": 55.0}
    )


def test_exact_request_parameters_and_labels_with_instances_parents_categories_aliases(client: Any) -> None:
    # given DetectLabels answers with the AWS docs' mobile phone and moderation is clean
    with Stubber(client) as stubber:
        expect_labels(stubber, fixture("detect_labels__aws_docs_mobile_phone__corrected.json"))
        expect_moderation(stubber, fixture("detect_moderation_labels__clean.json"))
        # when the image is labelled
        result = labeller_for(client).label(REF)
        stubber.assert_no_pending_responses()
    # then every part of the label is parsed, and the model versions are kept
    (label,) = result.labels
    assert label.name == "Mobile Phone"
    assert label.confidence == pytest.approx(99.9364013671875)
    assert label.parents == ("Phone",)
    assert label.aliases == ("Cell Phone",)
    assert label.categories == ("Technology and Computing",)
    (instance,) = label.instances
    assert instance.box.left == pytest.approx(0.3604024350643158)
    assert instance.box.top == pytest.approx(0.09245597571134567)
    assert instance.box.width == pytest.approx(0.26779675483703613)
    assert instance.box.height == pytest.approx(0.8562285900115967)
    assert result.label_model_version == "3.0"
    assert result.moderation == ()
    assert result.moderation_model_version == "7.0"
    assert result.backend == "rekognition"


def test_moderation_v7_three_levels_resolve_to_their_top_category(client: Any) -> None:
    # given a v7 answer for a smoking illustration
    with Stubber(client) as stubber:
        expect_labels(stubber, {"Labels": [], "LabelModelVersion": "3.0"})
        expect_moderation(stubber, fixture("detect_moderation_labels__aws_docs_v7_smoking.json"))
        result = labeller_for(client).label(REF)
    # then each level is kept with its taxonomy level and its level-1 category
    by_name = {m.name: m for m in result.moderation}
    assert by_name["Smoking"].taxonomy_level == 3
    assert by_name["Smoking"].top_category == "Drugs & Tobacco"
    assert by_name["Drugs & Tobacco Paraphernalia & Use"].top_category == "Drugs & Tobacco"
    assert by_name["Drugs & Tobacco"].parent_name == ""
    assert by_name["Drugs & Tobacco"].top_category == "Drugs & Tobacco"
    assert result.moderation_model_version == "7.0"


def test_moderation_v6_legacy_has_no_levels_and_no_version(client: Any) -> None:
    # given a v6 answer (no TaxonomyLevel, no ModerationModelVersion)
    with Stubber(client) as stubber:
        expect_labels(stubber, {"Labels": [], "LabelModelVersion": "2.0"})
        expect_moderation(stubber, fixture("detect_moderation_labels__aws_docs_v6_legacy.json"))
        result = labeller_for(client).label(REF)
    # then the labels are parsed and the version is recorded as unversioned v6
    assert {m.name for m in result.moderation} == {
        "Explicit Nudity",
        "Graphic Male Nudity",
        "Sexual Activity",
    }
    assert all(m.taxonomy_level is None for m in result.moderation)
    assert {m.top_category for m in result.moderation} == {"Explicit Nudity"}
    assert result.moderation_model_version == "6 (unversioned)"


def test_a_child_whose_parent_is_missing_takes_the_parent_as_category() -> None:
    labels, version = parse_detect_moderation_labels(
        {"ModerationLabels": [{"Name": "Weapon Violence", "ParentName": "Violence", "Confidence": 80.0}]}
    )
    assert labels[0].top_category == "Violence"
    assert version == ""


def test_the_client_retries_throttling_itself_in_standard_mode(settings: Any) -> None:
    # given the configured botocore attempts
    settings.LABEL_BOTOCORE_ATTEMPTS = 4
    # when the client's config is built
    config = client_config()
    # then botocore's standard mode does the retrying (no loop of ours stacks on top)
    assert config.retries == {"mode": "standard", "max_attempts": 4}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailableException", 503),
    ],
)
def test_throttling_and_5xx_that_outlast_botocore_are_left_to_the_job_queue(
    client: Any, code: str, status: int
) -> None:
    # given Rekognition still throttles (or fails) after botocore's own retries
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels", service_error_code=code, service_message="Slow down", http_status_code=status
        )
        # when the image is labelled
        with pytest.raises(LabellerError) as raised:
            labeller_for(client).label(REF)
        # then the labeller called once (no retry loop of its own) ...
        stubber.assert_no_pending_responses()
    # ... and the error is not final: the job queue tries again after its backoff
    assert raised.value.final is False
    assert raised.value.code == code


def test_errors_are_classified_by_code_not_by_message(client: Any) -> None:
    # given a final error code whose message reads like a throttle, and a throttle that reads final
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels",
            service_error_code="InvalidImageFormatException",
            service_message="Rate exceeded, throttling",
            http_status_code=400,
        )
        stubber.add_client_error(
            "detect_labels",
            service_error_code="ThrottlingException",
            service_message="Invalid image format",
            http_status_code=400,
        )
        with pytest.raises(LabellerError) as first:
            labeller_for(client).label(REF)
        with pytest.raises(LabellerError) as second:
            labeller_for(client).label(REF)
    # then the code decides
    assert first.value.final is True
    assert second.value.final is False


@pytest.mark.parametrize(
    "code",
    [
        "InvalidS3ObjectException",
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "AccessDeniedException",
    ],
)
def test_s3_and_format_errors_are_final_and_never_retried(client: Any, code: str) -> None:
    body = fixture("error_bodies.json")[code]
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels",
            service_error_code=code,
            service_message=body["body"]["Message"],
            http_status_code=body["status"],
        )
        with pytest.raises(LabellerError) as raised:
            labeller_for(client).label(REF)
        stubber.assert_no_pending_responses()
    assert raised.value.final is True
    assert raised.value.message == body["body"]["Message"]


def test_a_final_error_kills_the_job_and_shows_the_error(client: Any, new_image: Any, settings: Any) -> None:
    # given a queued image and Rekognition that cannot read its S3 object
    settings.IMAGES_BUCKET = "meridian-images"
    image = new_image()
    message = fixture("error_bodies.json")["InvalidS3ObjectException"]["body"]["Message"]
    (job,) = claim(limit=5)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "detect_labels", service_error_code="InvalidS3ObjectException", service_message=message
        )
        # when the job runs
        state = run_job(job, RekognitionLabeller(client=client))
    # then the job is dead after one attempt, with the error visible, and the image failed
    job.refresh_from_db()
    image.refresh_from_db()
    assert state == LabelJobState.DEAD
    assert job.state == LabelJobState.DEAD
    assert job.attempts == 1
    assert "InvalidS3ObjectException" in job.last_error and message in job.last_error
    assert image.status == ImageStatus.FAILED


def test_the_client_uses_standard_retries_timeouts_and_a_pool_sized_to_the_cap() -> None:
    config = client_config()
    assert config.retries["mode"] == "standard"
    assert config.retries["max_attempts"] >= 2
    assert config.connect_timeout == 5
    assert config.read_timeout == 30
    assert config.max_pool_connections >= 1


def test_no_bucket_configured_is_a_final_error() -> None:
    with pytest.raises(LabellerError) as raised:
        RekognitionLabeller(client=object()).label(ImageRef(bucket="", key="k", checksum="ab" * 32))
    assert raised.value.final


def test_boto3_is_not_imported_by_the_adapter_module_at_import_time() -> None:
    import subprocess
    import sys

    code = (
        "import sys, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','portal.settings.test');"
        "django.setup(); import content.labels.labellers.rekognition, content.labels.jobs;"
        "import content.labels.views;"
        "print('boto3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
