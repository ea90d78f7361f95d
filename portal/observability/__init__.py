"""Structured logs, CloudWatch embedded metrics and X-Ray tracing (docs/observability.md).

Nothing here imports boto3 or the X-Ray SDK at start-up: tracing loads the SDK on the first traced
call of a process where it is switched on, and metrics are plain JSON lines on stdout.
"""
