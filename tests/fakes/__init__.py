"""Test doubles that speak real protocols (a local market API server)."""
