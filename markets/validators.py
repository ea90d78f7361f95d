"""Field validators shared by markets' and groups' models."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from portal.bounds import MATCH_TERMS_MAX, TERM_MAX


def validate_match_terms(value: Any) -> None:
    """Raise ValidationError unless `value` is a list of at most MATCH_TERMS_MAX short strings."""
    if not isinstance(value, list):
        raise ValidationError("Give a list.", code="match")
    if len(value) > MATCH_TERMS_MAX:
        raise ValidationError(f"Match at most {MATCH_TERMS_MAX} terms per rule.", code="match")
    if any(not isinstance(term, str) or len(term) > TERM_MAX for term in value):
        raise ValidationError(f"Each term is text of at most {TERM_MAX} characters.", code="match")
