"""Demo data and simulated providers, for development and the test suite (DEMO_APP)."""
