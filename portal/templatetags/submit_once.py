"""`{% submit_once_field %}`: the hidden one-time token of a create form (portal/submit_once.py)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.submit_once import FIELD, new_token

register = template.Library()


@register.simple_tag
def submit_once_field() -> SafeString:
    """Render the hidden field that makes this form's POST count once."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
