"""django-filter filter sets for the markets REST API."""

from __future__ import annotations

import django_filters

from markets.models import Market, Rule, RuleAction, Visibility


class MarketFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter(help_text="Only active (true) or inactive (false) markets.")
    default_visibility = django_filters.ChoiceFilter(choices=Visibility.choices)

    class Meta:
        model = Market
        fields = ["active", "default_visibility"]


class RuleFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=RuleAction.choices)

    class Meta:
        model = Rule
        fields = ["action"]
