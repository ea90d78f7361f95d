"""CloudWatch metrics in the embedded metric format (EMF): one JSON line on stdout, no API call.

Lambda sends stdout to CloudWatch Logs, and CloudWatch extracts every metric a line's `_aws`
block declares (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Off Lambda (METRICS_ENABLED false) the same document goes to the `meridian.metrics` logger at
DEBUG, so a laptop's console stays readable.

Every metric carries one dimension, `Environment` (dev, staging, production), so that the alarms in
deploy/alarms.yaml name a handful of series, whatever the market or partner.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from django.conf import settings

logger = logging.getLogger("meridian.metrics")

# The metrics Meridian emits and their CloudWatch units; emit() refuses any other name, so a typo
# cannot create a series no alarm watches.
UNITS: dict[str, str] = {
    "OutboxDepth": "Count",
    "OutboxOldestAgeSeconds": "Seconds",
    "OutboxDeadLetters": "Count",
    "OutboxDeadLettered": "Count",
    "PublishLatencyMs": "Milliseconds",
    "PublishLatencyMaxMs": "Milliseconds",
    "LabellingQueueDepth": "Count",
    "LabellingDeadJobs": "Count",
    "LabellingFailures": "Count",
    "GatewaySyncFailures": "Count",
    "Partner429": "Count",
    "AsyncFailures": "Count",
}
MAX_METRICS_PER_DOCUMENT = 100  # EMF's limit per directive


class UnknownMetric(ValueError):
    """A metric name that is not in UNITS."""


def document(
    values: Mapping[str, float],
    *,
    properties: Mapping[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """Return the EMF document for `values` (name → number), with `properties` as plain fields."""
    unknown = sorted(set(values) - set(UNITS))
    if unknown:
        raise UnknownMetric(f"Unknown metric(s) {', '.join(unknown)}: add them to UNITS first.")
    if len(values) > MAX_METRICS_PER_DOCUMENT:
        raise ValueError(f"At most {MAX_METRICS_PER_DOCUMENT} metrics per EMF document.")
    environment = str(settings.MERIDIAN_ENVIRONMENT)
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": settings.METRICS_NAMESPACE,
                    "Dimensions": [["Environment"]],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }
            ],
        },
        "Environment": environment,
    }
    # Properties first: a metric value must win over a property of the same name.
    doc.update(
        {key: value for key, value in (properties or {}).items() if key not in ("_aws", "Environment")}
    )
    doc.update({name: float(value) for name, value in values.items()})
    return doc


def emit(
    values: Mapping[str, float], *, properties: Mapping[str, Any] | None = None, stream: TextIO | None = None
) -> dict[str, Any]:
    """Write one EMF line for `values` and return its document. Never raises for I/O trouble."""
    doc = document(values, properties=properties)
    line = json.dumps(doc, default=str, separators=(",", ":"))
    if settings.METRICS_ENABLED or stream is not None:
        try:
            out = stream or sys.stdout
            out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed stdout must not fail the request or the job
            logger.warning("Could not write metrics: %s", line)
    else:
        logger.debug("metrics %s", line)
    return doc


def count(name: str, value: float = 1, **properties: Any) -> dict[str, Any]:
    """Emit one counter (e.g. `count("Partner429", reason="quota")`)."""
    return emit({name: value}, properties=properties)
