"""Great-circle distances (vectorised), with the literature's convention for miles."""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0
KM_PER_MILE = 1.61  # Jasin & Sinha (2015) / REPLAY.md convention, not 1.609344


def haversine_miles(
    lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float,
    lon2: np.ndarray | float,
) -> np.ndarray:
    """Great-circle miles between points (degrees); broadcasts like numpy."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) / KM_PER_MILE


def haversine_miles_pre(
    p1: np.ndarray, cos_p1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float,
) -> np.ndarray:
    """`haversine_miles(lat1, lon1, lat2, lon2)` for many origins and one destination, with
    the origins' radians `p1 = np.radians(lat1)` and `cos_p1 = np.cos(p1)` computed once.

    The same operations in the same order as `haversine_miles`: results are bit-identical.
    """
    p2 = np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + cos_p1 * np.cos(p2) * np.sin(dlmb / 2) ** 2
    # min(max(a, 0), 1) is np.clip(a, 0, 1) value for value, without clip's Python wrapper.
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(np.maximum(a, 0.0), 1.0))) \
        / KM_PER_MILE
