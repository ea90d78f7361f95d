from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal import checks, tasks  # noqa: F401 (checks: registers the deployment checks)

        # Inline locally (the tests and `make run` see published state at once); on Lambda an
        # async invocation, so the user's request never waits on the tables.
        tasks.register("shared_tables.publish", "portal.shared_tables.publisher.publish_task", coalesce=True)
        # Emails and webhook attempts after new notifications, a test event or a retry.
        tasks.register("notifications.deliver", "portal.notifications.services.deliver_task", coalesce=True)
