"""Solana adapters: JSON-RPC, Jito (Kobe), Stakewiz and Solana Beach."""
