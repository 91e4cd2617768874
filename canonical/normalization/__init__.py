"""Normalization: staged provider payloads into canonical rows (see canonical.services)."""
