"""Filters of the change request list (API)."""

from __future__ import annotations

import django_filters

from portal.change_requests.models import ChangeRequest, RequestState


class ChangeRequestFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=RequestState.choices)
    market = django_filters.CharFilter(field_name="market__code", lookup_expr="iexact", max_length=32)
    group = django_filters.CharFilter(field_name="group__code", lookup_expr="iexact", max_length=32)
    author = django_filters.CharFilter(field_name="author__username", max_length=150)

    class Meta:
        model = ChangeRequest
        fields = ["state", "market", "group", "author"]
