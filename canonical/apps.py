from django.apps import AppConfig


class CanonicalConfig(AppConfig):
    name = "canonical"
    default_auto_field = "django.db.models.BigAutoField"
