"""Simulations package."""
