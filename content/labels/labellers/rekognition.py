"""The production labeller: Rekognition DetectLabels + DetectModerationLabels on the S3 object.

boto3 is imported on first use only (cold starts). botocore's `standard` retry mode retries
throttling and 5xx (LABEL_BOTOCORE_ATTEMPTS), and a semaphore caps concurrent calls from one
process. There is no retry loop of ours on top: what outlasts botocore is a retryable
LabellerError, and the job queue (content/labels/jobs.py) tries again after its backoff, without
holding a worker meanwhile. Errors are classified by AWS's error code, never by message text:
S3 and format errors are final, since retrying cannot fix a missing object or a GIF.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings

from content.labels.labellers.base import (
    ImageRef,
    LabellerError,
    LabellingResult,
    parse_detect_labels,
    parse_detect_moderation_labels,
)

logger = logging.getLogger(__name__)

MAX_LABELS = 50
# Errors that no retry can fix: the object, its format or our permissions are wrong.
FINAL_ERRORS = frozenset(
    {
        "InvalidS3ObjectException",
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidParameterException",
        "AccessDeniedException",
    }
)
THROTTLING_ERRORS = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"}
)
SERVER_ERRORS = frozenset({"InternalServerError", "ServiceUnavailableException"})


def client_config() -> Any:
    """Return the botocore Config every Rekognition client uses (standard retries, timeouts)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": int(settings.LABEL_BOTOCORE_ATTEMPTS)},
        connect_timeout=float(settings.LABEL_CONNECT_TIMEOUT),
        read_timeout=float(settings.LABEL_READ_TIMEOUT),
        max_pool_connections=int(settings.LABEL_CONCURRENCY),
    )


class RekognitionLabeller:
    """Labels S3 objects with Rekognition; raises LabellerError (final for S3/format errors)."""

    name = "rekognition"

    def __init__(
        self,
        *,
        client: Any = None,
        min_confidence: float | None = None,
        max_labels: int = MAX_LABELS,
        concurrency: int | None = None,
    ) -> None:
        self._client = client
        self.min_confidence = float(
            settings.LABEL_MIN_CONFIDENCE if min_confidence is None else min_confidence
        )
        self.max_labels = max_labels
        cap = concurrency if concurrency is not None else int(settings.LABEL_CONCURRENCY)
        self._slots = threading.BoundedSemaphore(max(1, cap))

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("rekognition", config=client_config())
        return self._client

    def label(self, image: ImageRef) -> LabellingResult:
        if not image.bucket:
            raise LabellerError("No IMAGES_BUCKET is configured for Rekognition.", code="Config", final=True)
        s3_image = {"S3Object": {"Bucket": image.bucket, "Name": image.key}}
        labels_response = self._call(
            "detect_labels",
            Image=s3_image,
            MaxLabels=self.max_labels,
            MinConfidence=self.min_confidence,
            Features=["GENERAL_LABELS"],
        )
        moderation_response = self._call(
            "detect_moderation_labels", Image=s3_image, MinConfidence=self.min_confidence
        )
        labels, label_version = parse_detect_labels(labels_response)
        moderation, moderation_version = parse_detect_moderation_labels(moderation_response)
        return LabellingResult(
            backend=self.name,
            labels=labels,
            label_model_version=label_version,
            moderation=moderation,
            # Model v6 answers carry no version; record that rather than leave it blank.
            moderation_model_version=moderation_version or "6 (unversioned)",
        )

    def _call(self, operation: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with self._slots:
                return getattr(self.client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            # Shown on the image's page only; the decision below reads the code alone.
            message = str(error.get("Message", "")) or str(exc)
            if code in FINAL_ERRORS:
                raise LabellerError(message, code=code, final=True) from exc
            if code in THROTTLING_ERRORS or code in SERVER_ERRORS:
                # botocore already retried it LABEL_BOTOCORE_ATTEMPTS times.
                logger.warning(
                    "Rekognition %s %s after botocore's retries; the job queue retries", operation, code
                )
            # Not final: the job queue backs off and tries again later, up to its attempt limit.
            raise LabellerError(message, code=code, final=False) from exc
        except BotoCoreError as exc:
            raise LabellerError(str(exc), code=type(exc).__name__, final=False) from exc
