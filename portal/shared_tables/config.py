"""The shared tables and reader configured by Django settings (one instance per configuration)."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from positioning.backends import open_tables
from positioning.reader import SharedTablesReader
from positioning.tables import SharedTables

# Re-entrant: building a reader builds the tables it reads under the same lock.
_lock = threading.RLock()
_tables: dict[tuple[Any, ...], SharedTables] = {}
_readers: dict[tuple[Any, ...], SharedTablesReader] = {}


def _config() -> tuple[Any, ...]:
    return (
        settings.SHARED_TABLES_BACKEND,
        settings.SHARED_TABLES_PREFIX,
        str(settings.SHARED_TABLES_LOCAL_PATH),
        settings.SHARED_TABLES_PUBLISH_THREADS,
        settings.SHARED_TABLES_CLIENT_MAX_ATTEMPTS,
    )


def shared_tables() -> SharedTables:
    """Return the backend the settings name; the same instance while the settings stay the same."""
    key = _config()
    tables = _tables.get(key)
    if tables is None:
        with _lock:
            tables = _tables.get(key)
            if tables is None:
                backend, prefix, local_path, threads, max_attempts = key
                tables = open_tables(
                    backend,
                    prefix=prefix,
                    local_path=local_path,
                    threads=threads,
                    max_attempts=max_attempts,
                    connect_timeout=settings.SHARED_TABLES_CONNECT_TIMEOUT,
                    read_timeout=settings.SHARED_TABLES_READ_TIMEOUT,
                )
                _tables[key] = tables
    return tables


def shared_tables_reader() -> SharedTablesReader:
    """Return the reader over shared_tables(), whose market cache lives as long as the process."""
    key = _config()
    reader = _readers.get(key)
    if reader is None:
        with _lock:
            reader = _readers.get(key)
            if reader is None:
                reader = SharedTablesReader(
                    shared_tables(), market_ttl_seconds=settings.SHARED_TABLES_MARKET_TTL
                )
                _readers[key] = reader
    return reader


def forget() -> None:
    """Drop the cached backends and readers (tests that switch backends call this)."""
    with _lock:
        _tables.clear()
        _readers.clear()
