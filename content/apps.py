from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "content"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The `images` shared-table builder (content/labels/shared_items.py).
        from content.labels.shared_items import register

        register()

        from content.selectors import existing_tag_slugs
        from markets.vocabulary import register_tag_lookup
        from portal import tasks

        register_tag_lookup(existing_tag_slugs)

        # Labelling never runs in a web request locally: the sweep or `manage.py labels process` does.
        tasks.register("labels.label_images", "content.labels.jobs.process_images", local="skip")
