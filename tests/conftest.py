import pytest


@pytest.fixture(autouse=True)
def _fast_and_plain(settings: pytest.FixtureRequest) -> None:
    """Cheap password hashing and plain static storage (no collectstatic manifest) in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
