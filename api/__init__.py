"""The REST API, mounted under API_PREFIX (aurora.urls); metrics count its requests by route."""

API_PREFIX = "/v1/"
