"""Allocation package."""
