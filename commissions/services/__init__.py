"""Writes of the commission engine: agreements, recompute, statements and overrides."""
