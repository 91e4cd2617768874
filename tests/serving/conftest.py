"""The API tests' partner books (north, helios) serve here too."""

from tests.api.test_api_partners import helios, north  # noqa: F401 (fixtures)
