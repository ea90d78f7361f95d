from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import Model
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from accounts.models import ApiToken, Membership, User
from accounts.services import membership_grant
from portal.pages import actor_of
from portal.read_only_admin import ReadOnlyModelAdmin


class MembershipInline(admin.TabularInline[Membership, User]):
    """Roles are granted through `membership_grant` (audited); the admin cannot edit or remove one."""

    model = Membership
    extra = 0
    # A role added here is a manual grant; where SSO memberships come from is shown, not edited.
    # A role in a group covers its member markets, now and later.
    fields = ["role", "market", "group", "source"]
    readonly_fields = ["source"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(User)
class MeridianUserAdmin(UserAdmin[User]):
    inlines = [MembershipInline]

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Any],
        formset: BaseInlineFormSet[Any, Any, Any],
        change: bool,
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        # New roles go through the service, so that each grant is checked and audited.
        for membership in formset.save(commit=False):
            membership_grant(
                actor=actor_of(request),
                user=membership.user,
                role=membership.role,
                market=membership.market,
                group=membership.group,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_select_related = ["user"]
