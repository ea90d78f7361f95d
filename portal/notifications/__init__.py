"""Notifications (`/notifications/`): events detected from the portal's state, delivered to the
users who may see them (inbox, email, daily digest) and to admins' webhook endpoints.

docs/notifications.md describes the events, recipients, channels and how the job runs.
"""
