"""The API's filter backend: django-filter's, with its errors passed on as they were written.

django-filter turns a filter form's errors into a 400 with `message % params`, which fails with
"incomplete format" (a 500) as soon as a message quotes the user's value and that value holds a
`%` (`?tag=50%`, `?market=%s`). The form's own errors are already formatted: pass those on.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose 400 carries the form's formatted messages (no `%` re-formatting)."""

    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        result: QuerySet[Any] = filterset.qs
        return result
