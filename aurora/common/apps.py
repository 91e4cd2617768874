from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "aurora.common"
    label = "common"
    verbose_name = "Aurora common"
