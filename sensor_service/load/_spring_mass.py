"""Spring-mass model of running from contact and flight time (Morin et al. 2005).

Morin JB, Dalleau G, Kyröläinen H, Jeannin T, Belli A. A simple method for measuring stiffness
during running. J Appl Biomech 2005;21:167–180 (SCIENCE.md §3). Validated against force plates:
F_max bias 3–7 %, k_leg 2.5–6 % (up to 9.8 % at 3.3 m/s); not valid on inclines.

The vertical ground reaction force during contact is modelled as a half sine,
``F(t) = F_max · sin(π t / t_c)`` for ``0 ≤ t ≤ t_c``, zero in flight.

* **Peak force.** Over one step (contact + flight) the vertical impulse equals body weight × step
  time: ``∫ F dt = F_max · 2 t_c / π = m g (t_c + t_f)``, so ``F_max = m g (π/2)(t_f/t_c + 1)``.
* **COM displacement** (derived here; SCIENCE.md flags the sign as unverified). With
  ``ÿ = F/m − g`` and the lowest point at mid-contact (``ẏ(t_c/2) = 0`` by symmetry):
  ``ẏ(t) = ẏ0 + (F_max t_c / (m π))(1 − cos(π t/t_c)) − g t`` with
  ``ẏ0 = −F_max t_c/(m π) + g t_c/2``; integrating from 0 to ``t_c/2``,
  ``y(t_c/2) − y(0) = −F_max t_c²/(m π²) + g t_c²/8``. The downward displacement is therefore
  ``Δy_c = F_max t_c²/(m π²) − g t_c²/8`` — the minus sign of SCIENCE.md holds
  (``tests/load/test_spring_mass.py`` integrates the equation of motion numerically to check it).
* ``k_vert = F_max / Δy_c``; ``ΔL = L − √(L² − (v t_c / 2)²) + Δy_c``; ``k_leg = F_max / ΔL``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensor_service.kernels._params import G0_M_S2

__all__ = ["SpringMass", "spring_mass"]


class SpringMass(NamedTuple):
    """Per-step spring-mass figures (arrays). NaN where an input is missing or out of range."""

    fz_peak_bw: NDArray[np.float64]  # peak vertical force, body weights
    delta_y_m: NDArray[np.float64]  # downward COM displacement in contact
    k_vert_kn_m: NDArray[np.float64]  # vertical stiffness
    delta_l_m: NDArray[np.float64]  # leg compression
    k_leg_kn_m: NDArray[np.float64]  # leg stiffness


def spring_mass(
    gct_ms: ArrayLike,
    flight_ms: ArrayLike,
    *,
    mass_kg: float,
    leg_length_m: float,
    speed_m_s: ArrayLike = np.nan,
) -> SpringMass:
    """Morin et al. 2005 from contact and flight time (ms), mass, leg length and speed.

    ``speed_m_s`` may be a scalar or per step (RSC pod, stride estimate or config); without it
    ``delta_l_m`` and ``k_leg_kn_m`` are NaN. Negative flight (a walking double support) is no
    running step: NaN.
    """
    tc = np.asarray(gct_ms, dtype=np.float64) / 1000.0
    tf = np.asarray(flight_ms, dtype=np.float64) / 1000.0
    v = np.asarray(speed_m_s, dtype=np.float64)
    ok = (tc > 0) & (tf >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fz_bw = np.where(ok, (np.pi / 2.0) * (tf / tc + 1.0), np.nan)
        f_max = fz_bw * mass_kg * G0_M_S2
        dy = f_max * tc**2 / (mass_kg * np.pi**2) - G0_M_S2 * tc**2 / 8.0
        dy = np.where(dy > 0, dy, np.nan)
        k_vert = f_max / dy / 1000.0
        half = v * tc / 2.0
        inside = leg_length_m**2 - half**2
        dl = np.where(inside > 0, leg_length_m - np.sqrt(np.where(inside > 0, inside, 0.0)), np.nan)
        dl = dl + dy
        k_leg = f_max / dl / 1000.0
    return SpringMass(
        np.asarray(fz_bw, dtype=np.float64),
        np.asarray(dy, dtype=np.float64),
        np.asarray(k_vert, dtype=np.float64),
        np.asarray(dl, dtype=np.float64),
        np.asarray(k_leg, dtype=np.float64),
    )
