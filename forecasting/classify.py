"""Syntetos-Boylan demand classification by ADI and CV^2 of the non-zero demand sizes."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
SMOOTH, ERRATIC, INTERMITTENT, LUMPY = 0, 1, 2, 3
CLASS_NAMES = ("smooth", "erratic", "intermittent", "lumpy")


@njit(cache=True)
def adi_cv2(x: np.ndarray) -> tuple[float, float]:
    """Average inter-demand interval and squared coefficient of variation of demand sizes."""
    n_nz = 0
    total = 0.0
    for v in x:
        if v != 0.0:
            n_nz += 1
            total += v
    if n_nz == 0:
        return np.inf, 0.0
    adi = x.size / n_nz
    mean = total / n_nz
    ss = 0.0
    for v in x:
        if v != 0.0:
            ss += (v - mean) * (v - mean)
    # Population variance of sizes, as in Syntetos & Boylan (2005).
    cv2 = (ss / n_nz) / (mean * mean) if mean != 0.0 else 0.0
    return adi, cv2


@njit(cache=True, parallel=True)
def classify_batch(y: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Per series: (class id, ADI, CV^2); classes SMOOTH, ERRATIC, INTERMITTENT, LUMPY."""
    n = indptr.size - 1
    classes = np.empty(n, dtype=np.int64)
    adi = np.empty(n)
    cv2 = np.empty(n)
    for s in prange(n):
        a, c = adi_cv2(y[indptr[s]:indptr[s + 1]])
        adi[s] = a
        cv2[s] = c
        sparse = a >= ADI_CUTOFF
        variable = c >= CV2_CUTOFF
        if sparse:
            classes[s] = LUMPY if variable else INTERMITTENT
        else:
            classes[s] = ERRATIC if variable else SMOOTH
    return classes, adi, cv2


def classify(y: np.ndarray, indptr: np.ndarray) -> list[str]:
    """Syntetos-Boylan class name of every series in the flat layout."""
    classes, _, _ = classify_batch(np.ascontiguousarray(y, dtype=np.float64),
                                   np.ascontiguousarray(indptr, dtype=np.int64))
    return [CLASS_NAMES[c] for c in classes]
