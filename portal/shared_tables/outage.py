"""The outage pause: after the tables were found unreachable, on-commit publishing waits.

Per process, in memory: the scheduled sweep keeps probing the tables meanwhile and a drain that
reaches them ends the pause.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings

_pause_lock = threading.Lock()
_paused_until = 0.0


def outage_paused() -> bool:
    """Return whether on-commit publishing is paused after the tables were found unreachable."""
    return time.monotonic() < _paused_until


def pause() -> None:
    """Pause on-commit publishing for SHARED_TABLES_OUTAGE_PAUSE seconds."""
    global _paused_until
    with _pause_lock:
        _paused_until = time.monotonic() + float(settings.SHARED_TABLES_OUTAGE_PAUSE)


def resume() -> None:
    """End an outage pause (a drain that reached the tables does this)."""
    global _paused_until
    with _pause_lock:
        _paused_until = 0.0
