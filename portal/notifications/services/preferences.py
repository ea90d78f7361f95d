"""Channel preferences: users' own choices and the admins' defaults per role."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.access import grants_for, require
from accounts.models import User
from accounts.roles import Role
from portal.audit.services import AuditRecord, audit_record
from portal.notifications.models import (
    Channel,
    EventKind,
    Preference,
)
from portal.notifications.rules import WEBHOOK_ACTION, built_in, role_defaults_apply


# --- preferences ---------------------------------------------------------------------------------------
@dataclass
class PreferenceBook:
    """Every preference row, loaded once: users' own choices and the role defaults."""

    by_user: dict[tuple[int, str, str], bool]
    by_role: dict[tuple[str, str, str], bool]

    @classmethod
    def load(cls) -> PreferenceBook:
        by_user: dict[tuple[int, str, str], bool] = {}
        by_role: dict[tuple[str, str, str], bool] = {}
        for user_id, role, kind, channel, enabled in Preference.objects.values_list(
            "user_id", "role", "kind", "channel", "enabled"
        ):
            if user_id is not None:
                by_user[(user_id, kind, channel)] = enabled
            else:
                by_role[(role, kind, channel)] = enabled
        return cls(by_user, by_role)

    def role_default(self, roles: Iterable[str], kind: str, channel: str) -> bool:
        if not role_defaults_apply(kind):
            return built_in(kind, channel)
        said = [self.by_role[(r, kind, channel)] for r in roles if (r, kind, channel) in self.by_role]
        return any(said) if said else built_in(kind, channel)

    def enabled(self, user: Any, kind: str, channel: str) -> bool:
        own = self.by_user.get((user.pk, kind, channel))
        return own if own is not None else self.role_default(grants_for(user).roles, kind, channel)


def preferences_set(*, user: User, choices: Mapping[tuple[str, str], bool]) -> None:
    """Store `user`'s own channel choices per (kind, channel): anyone may, for themselves only."""
    with transaction.atomic():
        for (kind, channel), enabled in choices.items():
            Preference.objects.update_or_create(
                user=user,
                role="",
                kind=EventKind(kind),
                channel=Channel(channel),
                defaults={"enabled": enabled},
            )
        audit_record(
            actor=user,
            record=AuditRecord(
                action="notification.preferences",
                object_type="user",
                object_id=str(user.pk),
                object_repr=user.get_username(),
                after={f"{k}:{c}": v for (k, c), v in choices.items()},
            ),
        )


def role_defaults_set(*, actor: User, role: str, choices: Mapping[tuple[str, str], bool]) -> None:
    """Store an admin's defaults for `role` per (kind, channel). Raises AccessDenied."""
    require(actor, WEBHOOK_ACTION)
    role = Role(role)
    # Opt-in kinds are each user's own choice: an admin's default cannot switch them on.
    choices = {(k, c): v for (k, c), v in choices.items() if role_defaults_apply(EventKind(k))}
    with transaction.atomic():
        for (kind, channel), enabled in choices.items():
            Preference.objects.update_or_create(
                user=None,
                role=role,
                kind=EventKind(kind),
                channel=Channel(channel),
                defaults={"enabled": enabled},
            )
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="notification.defaults",
                object_type="role",
                object_id=role,
                object_repr=Role(role).label,
                after={f"{k}:{c}": v for (k, c), v in choices.items()},
            ),
        )
