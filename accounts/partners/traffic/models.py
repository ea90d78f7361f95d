"""Traffic samples and rollups (see docs/partners.md, "Traffic").

Rollups are keyed by their natural key (key, stage, method, minute or hour) and always written as
a replacement computed from every request of that bucket, so reading a window twice never
double counts.
"""

from __future__ import annotations

from django.db import models

__all__ = ["TrafficHour", "TrafficImportCursor", "TrafficMinute", "TrafficSample"]


class TrafficSample(models.Model):
    """One request a partner key made through the local enforcement (kept two days)."""

    request_id = models.CharField(max_length=64, unique=True)
    # A string reference: accounts.partners.models imports this module.
    key = models.ForeignKey("accounts.PartnerApiKey", on_delete=models.CASCADE, related_name="+")
    stage = models.CharField(max_length=128)
    # "/resource/METHOD", the spelling of API Gateway's per-method throttles.
    method = models.CharField(max_length=255)
    at = models.DateTimeField(db_index=True)
    status = models.PositiveSmallIntegerField()
    # "throttle" or "quota" for a 429, else empty.
    reason = models.CharField(max_length=16, blank=True)
    latency_ms = models.FloatField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.key_id} {self.method} {self.at:%H:%M:%S} {self.status}"


class TrafficFigures(models.Model):
    """What every rollup holds: counts by outcome, burst, steady rate and latency percentiles."""

    key = models.ForeignKey("accounts.PartnerApiKey", on_delete=models.CASCADE, related_name="+")
    stage = models.CharField(max_length=128)
    method = models.CharField(max_length=255)
    requests = models.PositiveIntegerField(default=0)
    # The most requests in any one second of the bucket.
    burst = models.PositiveIntegerField(default=0)
    # p95 of the bucket's per-second request counts (an hour: the highest of its minutes').
    steady = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0, help_text="2xx and 3xx answers.")
    client_errors = models.PositiveIntegerField(default=0, help_text="4xx other than 429.")
    server_errors = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0, help_text="429 Too Many Requests.")
    quota_refused = models.PositiveIntegerField(default=0, help_text="429 Limit Exceeded.")
    latency_p50 = models.FloatField(default=0.0)
    latency_p99 = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TrafficMinute(TrafficFigures):
    """One key's requests to one method on one stage in one UTC minute (kept 14 days)."""

    minute = models.DateTimeField()

    class Meta:
        ordering = ["minute", "key", "stage", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "stage", "method", "minute"], name="trafficminute_natural_key"
            )
        ]
        indexes = [models.Index(fields=["minute"], name="trafficminute_minute_idx")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.method} {self.minute:%Y-%m-%d %H:%M}: {self.requests}"


class TrafficHour(TrafficFigures):
    """One key's requests to one method on one stage in one UTC hour (kept 400 days).

    Derived from the hour's minutes: sums, the highest burst and steady rate, the highest p99
    (an upper bound) and the request-weighted mean of the minutes' p50.
    """

    hour = models.DateTimeField()

    class Meta:
        ordering = ["hour", "key", "stage", "method"]
        constraints = [
            models.UniqueConstraint(fields=["key", "stage", "method", "hour"], name="traffichour_natural_key")
        ]
        indexes = [models.Index(fields=["hour"], name="traffichour_hour_idx")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.method} {self.hour:%Y-%m-%d %H}: {self.requests}"


class TrafficImportCursor(models.Model):
    """How far a traffic source has been imported: the end (exclusive) of the last window read.

    Only ever moved forward (a conditional update), so an overlapping or retried run that
    finishes late cannot set it back.
    """

    source = models.CharField(max_length=64, unique=True)
    imported_until = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source} until {self.imported_until:%Y-%m-%d %H:%M}"
