from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "ingestion"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chains.registry import register_provider_check
        from ingestion.providers.registry import provider_spec_problems

        register_provider_check(provider_spec_problems)
