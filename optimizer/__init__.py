"""Optimizer package."""
