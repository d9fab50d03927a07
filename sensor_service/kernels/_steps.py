"""The step record the kernel emits: one row per ground contact."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["N_OUT_COLS", "STEP_DTYPE", "rows_to_steps"]

#: One completed ground contact. Indices count samples since the detector started, gaps included.
STEP_DTYPE: Final = np.dtype(
    [
        ("ic_idx", "f8"),  # initial contact, sub-sample
        ("to_idx", "f8"),  # toe-off (terminal contact), sub-sample
        ("gct_ms", "f8"),  # ground contact time = TO − IC
        ("stride_ms", "f8"),  # this IC − previous IC of the same foot; NaN when unknown
        ("peak_accel_g", "f8"),  # peak |acc| of the landing impact, in g
        ("strike_angle_deg", "f8"),  # foot pitch at IC − standing pitch; NaN when unknown
        ("clipped", "?"),  # a saturated accelerometer sample between IC and TO
        # loading-rate proxy: mean slope of |acc| from IC to its impact peak, g/s; NaN if none
        ("loading_rate_g_s", "f8"),
    ]
)
#: The kernel writes rows of float64 in the field order above (``clipped`` as 0.0 / 1.0).
N_OUT_COLS: Final = 8


def rows_to_steps(rows: NDArray[np.float64]) -> NDArray[np.void]:
    """Convert kernel output rows (n, 8) to a :data:`STEP_DTYPE` array."""
    out = np.empty(rows.shape[0], dtype=STEP_DTYPE)
    for j, name in enumerate(STEP_DTYPE.names or ()):
        if name == "clipped":
            out[name] = rows[:, j] != 0.0
        else:
            out[name] = rows[:, j]
    return out
