import pytest


@pytest.fixture(autouse=True)
def _fast_and_plain(settings: pytest.FixtureRequest) -> None:
    """Cheap password hashing, plain static storage (no collectstatic manifest) and plain HTTP
    for the test client; the production values are covered by the deploy check test."""
    settings.SECURE_SSL_REDIRECT = False
    settings.STATIC_ROOT = settings.BASE_DIR / "static"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def registry(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry from config/*.yaml and the demo validators of the shipped recordings."""
    from tests.solana_demo import load_registry

    monkeypatch.setenv("SOLANABEACH_API_KEY", "demo-key")
    load_registry()
