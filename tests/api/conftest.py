"""The partner books (north, helios) of the partner endpoint tests serve every API test."""

from tests.api.test_api_partners import helios, north  # noqa: F401 (fixtures)
