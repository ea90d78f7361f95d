"""django-filter filter sets for the market groups REST API."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from markets.models import GroupRule, MarketGroup, RuleAction


class GroupFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter(help_text="Only active (true) or retired (false) groups.")
    member = django_filters.CharFilter(
        method="filter_member", help_text="Only groups with this member market."
    )

    class Meta:
        model = MarketGroup
        fields = ["active"]

    def filter_member(self, queryset: QuerySet[MarketGroup], name: str, value: str) -> QuerySet[MarketGroup]:
        return queryset.filter(member_links__market__code=value.strip().upper())


class GroupRuleFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=RuleAction.choices)
    binding = django_filters.BooleanFilter()

    class Meta:
        model = GroupRule
        fields = ["action", "binding"]
