"""Read-only Django admin for models that have services.

A model whose changes go through a service (access check, audit entry, outbox row in one
transaction) must not be writable in the Django admin, which would save the row around all three:
a boost changed there would reach no shared table and leave no trace. The admin stays a place to
look; changes are made in the portal, the REST API or the management commands.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest


class ReadOnlyModelAdmin(admin.ModelAdmin[Any]):
    """A ModelAdmin that shows rows and never adds, changes or deletes them."""

    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
