"""Secret generation and hashing shared by API tokens (and, later, partner API keys)."""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """Return a new random secret: `prefix` + URL-safe text from `nbytes` random bytes."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """Return the SHA-256 hex digest of a secret.

    Secrets are 256-bit random values, so an unsalted fast hash is safe and allows lookup by hash.
    """
    return hashlib.sha256(secret.encode()).hexdigest()
