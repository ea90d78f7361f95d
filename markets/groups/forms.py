"""Forms of the group pages: a group's settings, its members and its rules."""

from __future__ import annotations

from typing import Any

from django import forms

from markets.forms import RuleForm
from markets.models import GROUP_PRIORITY_MAX, Market
from portal.bounds import NOTE_MAX


class GroupForm(forms.Form):
    """A new group (code, name, priority, description, first members) or its settings (no code)."""

    code = forms.CharField(
        max_length=32, help_text="Upper-case letters or digits, e.g. DACH, EU, OPTUS-PARTNERS."
    )
    name = forms.CharField(max_length=120)
    priority = forms.IntegerField(
        min_value=0,
        max_value=GROUP_PRIORITY_MAX,
        initial=100,
        help_text="A lower number is stronger: between two groups of a market, the lower one decides.",
    )
    description = forms.CharField(
        required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    members = forms.ModelMultipleChoiceField(
        queryset=Market.objects.order_by("code"),
        required=False,
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
    )
    active = forms.BooleanField(required=False, initial=True, help_text="A retired group decides nothing.")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # The code names the group's shared item: it never changes; members have their own form.
            del self.fields["code"]
            del self.fields["members"]
        else:
            del self.fields["active"]


class GroupMembersForm(forms.Form):
    """Markets to add to and remove from a group."""

    add = forms.ModelMultipleChoiceField(
        queryset=Market.objects.order_by("code"), required=False, to_field_name="code"
    )
    remove = forms.ModelMultipleChoiceField(
        queryset=Market.objects.order_by("code"), required=False, to_field_name="code"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class GroupRuleForm(RuleForm):
    """A group rule: a market rule's fields, `binding` included (a legal duty that beats every
    position of every member market). Whoever may edit a group's rules may set it: market managers
    of every member, or admins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("can_set_binding", True)
        super().__init__(*args, **kwargs)
