from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "content"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The `images` shared-table builder (content/labelling/shared_items.py).
        from content.labelling.shared_items import register

        register()
