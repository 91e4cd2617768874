"""Ethereum adapters: the Beacon API (periods, consensus rewards, validator metadata), the execution
JSON-RPC (priority fees of locally built blocks) and MEV-Boost relays (relay-delivered blocks)."""
