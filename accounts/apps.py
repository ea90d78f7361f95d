from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The login-time receiver (accounts/sso/sessions.py) must be connected before any login.
        from accounts.sso import sessions  # noqa: F401
