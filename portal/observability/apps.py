from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "portal.observability"
    label = "observability"

    def ready(self) -> None:
        from django.conf import settings

        from portal.observability.logging import install_record_factory

        install_record_factory()

        if settings.TRACING_ENABLED:
            from django.db.backends.signals import connection_created

            from portal.observability.tracing import install_botocore_tracing, install_db_tracing

            # Every database connection and every AWS client, in requests and background jobs alike.
            connection_created.connect(install_db_tracing, dispatch_uid="meridian-db-tracing")
            install_botocore_tracing()
