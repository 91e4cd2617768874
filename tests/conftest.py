import pytest

from aurora.common.dbroles import SchemaOwnerSession

_schema_owner = SchemaOwnerSession()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> None:
    """The test databases are created and migrated by the schema owner, as in production. The
    suite's sessions alone do not wait for the disk at commit (the server itself is durable)."""
    from django.conf import settings

    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()
    _schema_owner.enter()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> object:
    """The tests run as the application's role, with its grants only; the owner drops the
    databases at the end."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(AS_OWNER_FUNCTION)
    _schema_owner.leave()
    yield
    _schema_owner.enter()


# Tests stand for an operator's maintenance session (deleting staged evidence to replay it) with
# this function, which exists in the test databases only: the application's role has no DELETE on
# staging payloads, and a test cannot change roles inside its own transaction.
AS_OWNER_FUNCTION = """
CREATE OR REPLACE FUNCTION test_as_owner(statement text, ids uuid[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE affected bigint;
BEGIN
    PERFORM set_config('aurora.maintenance', 'on', true);
    EXECUTE statement USING ids;
    GET DIAGNOSTICS affected = ROW_COUNT;
    PERFORM set_config('aurora.maintenance', 'off', true);
    RETURN affected;
END
$$;
"""


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
