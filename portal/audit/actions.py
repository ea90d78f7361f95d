"""Every action the audit log records, in one registry.

An audit entry's `action` must be one of these: `AuditRecord` refuses any other name, so a typo in
a service fails its tests instead of writing an entry nobody can filter for. Add a member here
when a service gains a new kind of change.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # Users and automation tokens
    API_TOKEN_CREATE = "api_token.create"
    API_TOKEN_REVOKE = "api_token.revoke"
    CALENDAR_FEED_CREATE = "calendar_feed.create"
    CALENDAR_FEED_REVOKE = "calendar_feed.revoke"
    MEMBERSHIP_GRANT = "membership.grant"
    MEMBERSHIP_REVOKE = "membership.revoke"
    # Single sign-on
    SSO_USER_CREATE = "sso.user_create"
    SSO_USER_UPDATE = "sso.user_update"
    SSO_USER_ACTIVATE = "sso.user_activate"
    SSO_USER_DEACTIVATE = "sso.user_deactivate"
    SSO_MAPPING_CREATE = "sso_mapping.create"
    SSO_MAPPING_DELETE = "sso_mapping.delete"
    # Markets and rules
    MARKET_CREATE = "market.create"
    MARKET_UPDATE = "market.update"
    MARKET_DEACTIVATE = "market.deactivate"
    MARKET_ACTIVATE = "market.activate"
    RULE_CREATE = "rule.create"
    RULE_COPY = "rule.copy"
    RULE_UPDATE = "rule.update"
    RULE_DELETE = "rule.delete"
    RULE_BINDING_SET = "rule.binding_set"
    RULE_BINDING_CLEAR = "rule.binding_clear"
    # Market groups, their members and rules (group positions are position.set/reset)
    GROUP_CREATE = "group.create"
    GROUP_UPDATE = "group.update"
    GROUP_MEMBER_JOIN = "group.member_join"
    GROUP_MEMBER_LEAVE = "group.member_leave"
    GROUP_RULE_CREATE = "group_rule.create"
    GROUP_RULE_UPDATE = "group_rule.update"
    GROUP_RULE_DELETE = "group_rule.delete"
    # Content, tags and positions
    CONTENT_CREATE = "content.create"
    CONTENT_UPDATE = "content.update"
    CONTENT_TAGS = "content.tags"
    TAG_CREATE = "tag.create"
    POSITION_SET = "position.set"
    POSITION_RESET = "position.reset"
    # Images and labels
    IMAGE_UPLOAD = "image.upload"
    IMAGE_REGISTER = "image.register"
    IMAGE_LINK = "image.link"
    IMAGE_LABELLED = "image.labelled"
    IMAGE_LABEL_FAILED = "image.label_failed"
    IMAGE_RETRY = "image.retry"
    LABEL_APPROVE = "label.approve"
    LABEL_REJECT = "label.reject"
    LABELS_BANDS = "labels.bands"
    SECTION_CREATE = "section.create"
    SECTION_RENAME = "section.rename"
    SECTION_DELETE = "section.delete"
    SECTION_MAPPING = "section.mapping"
    SECTION_MAPPING_DELETE = "section.mapping_delete"
    MODERATION_POLICY = "moderation.policy"
    MODERATION_POLICY_DELETE = "moderation.policy_delete"
    # Partners, plans and keys
    PARTNER_CREATE = "partner.create"
    PARTNER_UPDATE = "partner.update"
    USAGE_PLAN_CREATE = "usage_plan.create"
    USAGE_PLAN_UPDATE = "usage_plan.update"
    USAGE_PLAN_DELETE = "usage_plan.delete"
    PARTNER_KEY_ISSUE = "partner_key.issue"
    PARTNER_KEY_REISSUE = "partner_key.reissue"
    PARTNER_KEY_ROTATE = "partner_key.rotate"
    PARTNER_KEY_SUSPENDED = "partner_key.suspended"
    PARTNER_KEY_RESUMED = "partner_key.resumed"
    PARTNER_KEY_REVOKED = "partner_key.revoked"
    PARTNER_KEY_EXPIRE = "partner_key.expire"
    PARTNER_KEY_TOP_UP = "partner_key.top_up"
    # Change requests and approval policies
    APPROVAL_POLICY_UPDATE = "approval_policy.update"
    CHANGE_REQUEST_CREATE = "change_request.create"
    CHANGE_REQUEST_UPDATE = "change_request.update"
    CHANGE_REQUEST_SUBMIT = "change_request.submit"
    CHANGE_REQUEST_APPROVE = "change_request.approve"
    CHANGE_REQUEST_APPROVED = "change_request.approved"
    CHANGE_REQUEST_REJECT = "change_request.reject"
    CHANGE_REQUEST_WITHDRAW = "change_request.withdraw"
    CHANGE_REQUEST_REFRESH = "change_request.refresh"
    CHANGE_REQUEST_COMMENT = "change_request.comment"
    CHANGE_REQUEST_APPLY = "change_request.apply"
    CHANGE_REQUEST_FAIL = "change_request.fail"
    # Publishing
    PUBLISHING_RETRY = "publishing.retry"
    # Notifications
    NOTIFICATION_DEFAULTS = "notification.defaults"
    NOTIFICATION_PREFERENCES = "notification.preferences"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_DELETE = "webhook.delete"
    WEBHOOK_RETRY = "webhook.retry"
    WEBHOOK_TEST = "webhook.test"


class UnknownAuditAction(ValueError):
    """An audit entry named an action the registry does not know."""


def audit_action(name: str) -> AuditAction:
    """Return the registered action `name`; UnknownAuditAction if there is none."""
    try:
        return AuditAction(name)
    except ValueError:
        raise UnknownAuditAction(
            f"{name!r} is not a registered audit action: add it to portal/audit/actions.py."
        ) from None
