"""All load figures of a step table in one call (offline analysis and the live pipeline)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensor_service.load._achilles import at_force_est_bw, at_impulse_est_bw_s
from sensor_service.load._athlete import AthleteParams
from sensor_service.load._spring_mass import spring_mass

__all__ = ["StepLoads", "step_loads"]


class StepLoads(NamedTuple):
    """Per-step load estimates; NaN where an input is missing."""

    fz_peak_bw: NDArray[np.float64]
    k_vert_kn_m: NDArray[np.float64]
    k_leg_kn_m: NDArray[np.float64]
    at_force_est_bw: NDArray[np.float64]
    at_impulse_est_bw_s: NDArray[np.float64]


def step_loads(
    gct_ms: ArrayLike,
    flight_ms: ArrayLike,
    strike_pattern: ArrayLike,
    athlete: AthleteParams,
    *,
    speed_m_s: ArrayLike = np.nan,
) -> StepLoads:
    """Spring-mass and Achilles estimates for each step (arrays of equal length)."""
    sm = spring_mass(
        gct_ms, flight_ms, mass_kg=athlete.mass_kg, leg_length_m=athlete.leg_m, speed_m_s=speed_m_s
    )
    at = at_force_est_bw(sm.fz_peak_bw, strike_pattern, athlete)
    return StepLoads(
        sm.fz_peak_bw, sm.k_vert_kn_m, sm.k_leg_kn_m, at, at_impulse_est_bw_s(at, gct_ms)
    )
