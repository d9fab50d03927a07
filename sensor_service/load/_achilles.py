"""Achilles tendon (AT) force *estimate* per step, and its impulse. A model, never a measurement.

Model (SCIENCE.md §4: AT force = plantar-flexor ankle moment ÷ AT moment arm):

* At the instant of peak vertical force the ankle plantar-flexor moment is approximated by the
  vertical force times the horizontal lever arm from the ankle joint to the centre of pressure:
  ``M ≈ F_z,peak · d(strike)``. Inertia of the foot, the horizontal force and the timing shift
  between the force peak and the moment peak are ignored.
* ``F_AT = M / r_AT``, ``r_AT`` = the athlete's moment arm (35–38 mm; default 36 mm).
* The lever arm ``d`` depends on the strike pattern: the centre of pressure sits further forward
  at mid-stance in non-rearfoot strikers. The defaults in :class:`~._athlete.AthleteParams` are
  calibrated so that ``F_z,peak`` = 2.5 BW gives 7.2 / 8.2 / 8.7 BW (rearfoot / midfoot /
  forefoot): the 71 / 80 / 85 N/kg measured at 10 km/h; running peaks span ~8–10 BW (44–99 N/kg
  over 1.3–4.5 m/s, shear-wave tensiometry 2024). No wearable AT estimate has a published error
  in BW: treat ±25 % as the floor of this model's uncertainty (docs/load_model.md).
* Impulse per step: the AT force follows the half sine of the vertical force,
  ``∫ F_AT dt = F_AT,peak · 2 t_c / π`` (BW·s); the run's cumulative impulse is their sum.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensor_service.load._athlete import AthleteParams

__all__ = ["at_force_est_bw", "at_impulse_est_bw_s"]


def at_force_est_bw(
    fz_peak_bw: ArrayLike, strike_pattern: ArrayLike, athlete: AthleteParams
) -> NDArray[np.float64]:
    """Peak Achilles force estimate per step, in body weights (see the module docstring)."""
    fz = np.asarray(fz_peak_bw, dtype=np.float64)
    pattern = np.broadcast_to(np.asarray(strike_pattern, dtype=str), fz.shape)
    lever = np.array([athlete.lever_m(str(p)) for p in pattern.ravel()], dtype=np.float64)
    return fz * lever.reshape(fz.shape) / athlete.at_moment_arm_m


def at_impulse_est_bw_s(at_force_bw: ArrayLike, gct_ms: ArrayLike) -> NDArray[np.float64]:
    """Achilles impulse per step (BW·s): half-sine force over the contact, ``F · 2 t_c / π``."""
    f = np.asarray(at_force_bw, dtype=np.float64)
    tc = np.asarray(gct_ms, dtype=np.float64) / 1000.0
    return f * 2.0 * tc / np.pi
