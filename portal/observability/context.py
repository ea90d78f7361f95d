"""What the current request or background job is about, for log lines and trace annotations.

A context variable, so a thread or task sees its own fields and nothing leaks between requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.utils.functional import empty

_fields: ContextVar[dict[str, Any] | None] = ContextVar("meridian_log_fields", default=None)
# Cached on the user object by accounts.access.grants_for; read without a query of our own.
_GRANTS_ATTR = "_meridian_grants"


def current() -> dict[str, Any]:
    """Return the bound fields (a copy), with the user's roles if access has loaded them."""
    fields = dict(_fields.get() or {})
    user = fields.pop("_user", None)
    # request.user is lazy: loading it here would query the session from inside a log call (and
    # log that query, and recurse). Use it only once something else has loaded it.
    if getattr(user, "_wrapped", None) is empty:
        user = None
    if user is not None and getattr(user, "is_authenticated", False):
        fields.setdefault("user", user.get_username())
        fields["role"] = user_role(user)
    return fields


def user_role(user: Any) -> str:
    """The user's roles as access already loaded them ("editor", "admin+reviewer"); "" if unknown."""
    grants = getattr(user, _GRANTS_ATTR, None)
    roles = sorted(str(role) for role in getattr(grants, "roles", ()) or ())
    if not roles and getattr(user, "is_superuser", False):
        roles = ["admin"]
    return "+".join(roles)


def bind(**fields: Any) -> None:
    """Add fields to the current context (None values are dropped)."""
    merged = dict(_fields.get() or {})
    merged.update({key: value for key, value in fields.items() if value is not None})
    _fields.set(merged)


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Bind `fields` for the duration of a block, then restore what was there before."""
    token = _fields.set({**(_fields.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)
