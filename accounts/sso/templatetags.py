"""`{% load sso %}`: the login page's single sign-on options (registered in settings' TEMPLATES)."""

from __future__ import annotations

from django import template
from django.http import HttpRequest

from accounts.sso.selectors import LoginOptions, login_options

register = template.Library()


@register.simple_tag(takes_context=True)
def sso_login_options(context: template.Context) -> LoginOptions:
    """Return what the login page offers; `?local=1` shows the break-glass password form."""
    request: HttpRequest | None = context.get("request")
    return login_options(show_local=bool(request is not None and request.GET.get("local") == "1"))
