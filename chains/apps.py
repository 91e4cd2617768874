from django.apps import AppConfig


class ChainsConfig(AppConfig):
    name = "chains"
    default_auto_field = "django.db.models.BigAutoField"
