"""Forecasting package."""
