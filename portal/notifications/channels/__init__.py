"""How notifications leave the portal: email (Django's email framework) and signed webhooks.

Adapters: they import models and settings only, never services, selectors or views.
"""
