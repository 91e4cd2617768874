"""Simulated providers: deterministic, in-process stand-ins for the real HTTP APIs (no network)."""
