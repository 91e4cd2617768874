from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Development only: demo data over the shipped recordings and the simulated providers that
    recorded them. No domain app imports it; production settings leave it out (DEMO_APP)."""

    name = "demo"
    verbose_name = "Demo data (development)"
