"""Load model: spring-mass force and stiffness, Achilles tendon force *estimate* per step.

Pure NumPy functions; units in the names. Model, assumptions and error: ``docs/load_model.md``.

* :func:`spring_mass`: ``fz_peak_bw``, ``k_vert_kn_m``, ``k_leg_kn_m`` (Morin et al. 2005);
* :func:`at_force_est_bw`, :func:`at_impulse_est_bw_s`: Achilles force and impulse estimates;
* :class:`AthleteParams`: mass, leg length or height, Achilles moment arm, lever arms;
* :func:`step_loads`: all of it for a step table in one call.
"""

from __future__ import annotations

from sensor_service.load._achilles import at_force_est_bw, at_impulse_est_bw_s
from sensor_service.load._athlete import LEG_LENGTH_PER_HEIGHT, AthleteParams
from sensor_service.load._spring_mass import SpringMass, spring_mass
from sensor_service.load._steps import StepLoads, step_loads

__all__ = [
    "LEG_LENGTH_PER_HEIGHT",
    "AthleteParams",
    "SpringMass",
    "StepLoads",
    "at_force_est_bw",
    "at_impulse_est_bw_s",
    "spring_mass",
    "step_loads",
]
