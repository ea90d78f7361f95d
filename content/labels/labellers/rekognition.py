"""The production labeller: Rekognition DetectLabels + DetectModerationLabels on the S3 object.

boto3 is imported on first use only (cold starts). botocore's `standard` retry mode retries
throttling and 5xx; on top of it a short, bounded retry of our own covers throttling that outlasts
botocore's attempts, and a semaphore caps concurrent calls from one process. S3 and format errors
are final: retrying cannot fix a missing object or a GIF.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
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
        retries={"mode": "standard", "max_attempts": int(getattr(settings, "LABEL_BOTOCORE_ATTEMPTS", 3))},
        connect_timeout=float(getattr(settings, "LABEL_CONNECT_TIMEOUT", 5)),
        read_timeout=float(getattr(settings, "LABEL_READ_TIMEOUT", 30)),
        max_pool_connections=int(getattr(settings, "LABEL_CONCURRENCY", 4)),
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
        throttle_attempts: int = 3,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int | None = None,
    ) -> None:
        self._client = client
        self.min_confidence = float(
            settings.LABEL_MIN_CONFIDENCE if min_confidence is None else min_confidence
        )
        self.max_labels = max_labels
        self.throttle_attempts = max(1, throttle_attempts)
        self.backoff_base = backoff_base
        self._sleep = sleep
        cap = concurrency if concurrency is not None else int(getattr(settings, "LABEL_CONCURRENCY", 4))
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

        attempt = 0
        while True:
            attempt += 1
            try:
                with self._slots:
                    return getattr(self.client, operation)(**params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "ClientError"))
                message = str(error.get("Message", "")) or str(exc)
                if code in FINAL_ERRORS:
                    raise LabellerError(message, code=code, final=True) from exc
                retryable = code in THROTTLING_ERRORS or code in SERVER_ERRORS
                if retryable and attempt < self.throttle_attempts:
                    delay = self.backoff_base * 2 ** (attempt - 1)
                    logger.warning("Rekognition %s %s; retrying in %.1fs", operation, code, delay)
                    self._sleep(delay)
                    continue
                # Not final: the job queue backs off and tries again later, up to its attempt limit.
                raise LabellerError(message, code=code, final=False) from exc
            except BotoCoreError as exc:
                raise LabellerError(str(exc), code=type(exc).__name__, final=False) from exc
