"""Foot strike pattern from the strike angle (foot pitch at IC minus standing pitch).

Altman & Davis 2012 define the foot strike angle (FSA); the cut-offs commonly quoted with it
(rearfoot > 8°, forefoot < −1.6°, midfoot between) are *unverified* in SCIENCE.md §2, so they are
parameters here, never constants in logic. Measured means for reference: rearfoot 17.7±4.4°,
midfoot 2.6±1.5°, forefoot −7.9±2.8° (JSSM 2025).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["FOREFOOT_MAX_DEG", "REARFOOT_MIN_DEG", "StrikePattern", "classify_strike"]

StrikePattern = Literal["rearfoot", "midfoot", "forefoot", "unknown"]
#: Default cut-offs (unverified, see module docstring).
REARFOOT_MIN_DEG: Final = 8.0
FOREFOOT_MAX_DEG: Final = -1.6


def classify_strike(
    strike_angle_deg: float | NDArray[np.float64],
    *,
    rearfoot_min_deg: float = REARFOOT_MIN_DEG,
    forefoot_max_deg: float = FOREFOOT_MAX_DEG,
) -> NDArray[np.str_]:
    """Strike pattern per angle: "rearfoot" above ``rearfoot_min_deg``, "forefoot" below
    ``forefoot_max_deg``, "midfoot" between, "unknown" for NaN."""
    if not forefoot_max_deg < rearfoot_min_deg:
        raise ValueError("forefoot_max_deg must be below rearfoot_min_deg")
    angle = np.asarray(strike_angle_deg, dtype=np.float64)
    out = np.full(angle.shape, "midfoot", dtype="<U8")
    out[angle > rearfoot_min_deg] = "rearfoot"
    out[angle < forefoot_max_deg] = "forefoot"
    out[np.isnan(angle)] = "unknown"
    return out
