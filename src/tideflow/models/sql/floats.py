"""Exact float32 comparisons expressed on float64 values.

scikit-learn trees and XGBoost cast each feature to float32 before comparing it with a split
threshold. ``fl32(x) <= t`` is a monotone condition on the float64 ``x``, so it equals either
``x < b`` or ``x <= b`` for one float64 bound ``b``: the midpoint between the largest float32 not
above ``t`` and the next float32 (midpoints of adjacent float32 values are exact in float64), with
round-half-to-even deciding whether the midpoint itself belongs. The SQL then compares doubles,
with no casts and the database's float32 overflow rules out of the way.
"""

from __future__ import annotations

import math

import numpy as np

_F32_MAX = float(np.finfo(np.float32).max)
_HALF_ULP_AT_MAX = 2.0**103  # half the float32 spacing just below 2**128


def _even(value: np.float32) -> bool:
    return int(np.array(value, dtype=np.float32).view(np.uint32)) & 1 == 0


def _floor32(t: float) -> np.float32:
    """The largest float32 not above ``t`` (``-inf`` below the float32 range)."""
    with np.errstate(over="ignore"):
        down = np.float32(t)
    if float(down) > t:
        down = np.nextafter(down, np.float32(-np.inf))
    return np.float32(down)


def f32_le_bound(t: float) -> tuple[float, bool]:
    """``(b, strict)`` such that ``fl32(x) <= t``  ⇔  ``x < b`` (strict) or ``x <= b``, for non-NaN float64 ``x``."""
    if math.isnan(t):
        raise ValueError("a NaN threshold has no bound")
    if t == math.inf:
        return math.inf, False
    low = _floor32(t)
    if np.isinf(low):  # t below -FLT_MAX: only values rounding to -inf satisfy it
        return -(_F32_MAX + _HALF_ULP_AT_MAX), False
    with np.errstate(over="ignore"):
        high = np.nextafter(low, np.float32(np.inf))
    if np.isinf(high):
        mid = _F32_MAX + _HALF_ULP_AT_MAX
    else:
        mid = (float(low) + float(high)) / 2.0
    # x == mid rounds to whichever neighbour has an even significand.
    return mid, not _even(low)


def f32_lt_bound(s: float) -> tuple[float, bool]:
    """``(b, strict)`` such that ``fl32(x) < s`` ⇔ ``x < b`` (strict) or ``x <= b``; ``s`` is a float32 value."""
    s32 = np.float32(s)
    if float(s32) != s:
        raise ValueError(f"{s!r} is not a float32 value")
    with np.errstate(over="ignore"):
        below = np.nextafter(s32, np.float32(-np.inf))
    return f32_le_bound(float(below))
