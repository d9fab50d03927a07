"""Per-athlete parameters of the load model (typed, validated once)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sensor_service.errors import ConfigError

__all__ = ["LEG_LENGTH_PER_HEIGHT", "AthleteParams"]

#: Leg length (greater trochanter to floor) ≈ 0.53 × height (Morin et al. 2005; SCIENCE.md §3).
LEG_LENGTH_PER_HEIGHT: Final = 0.53


@dataclass(frozen=True, slots=True, kw_only=True)
class AthleteParams:
    """Body and tendon parameters. Units are in the names.

    Give ``leg_length_m`` or ``height_m`` (then leg length = 0.53 × height). The lever arms are the
    horizontal distance from the ankle joint to the centre of pressure at peak vertical force,
    per strike pattern; they are *calibrated model defaults* (see ``docs/load_model.md``), chosen
    so that a typical running step (``fz_peak_bw`` ≈ 2.5) gives 7.2 / 8.2 / 8.7 BW of Achilles
    force for rearfoot / midfoot / forefoot strikes: the 71 / 80 / 85 N/kg peaks measured at
    10 km/h (SCIENCE.md §4). ``at_moment_arm_m`` is the Achilles moment arm about the ankle,
    35–38 mm in adults (SCIENCE.md §4): measure it per athlete when you can.
    """

    mass_kg: float
    leg_length_m: float | None = None
    height_m: float | None = None
    at_moment_arm_m: float = 0.036
    lever_rearfoot_m: float = 0.104
    lever_midfoot_m: float = 0.118
    lever_forefoot_m: float = 0.125

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mass_kg) and 20.0 <= self.mass_kg <= 250.0):
            raise ConfigError(f"mass_kg {self.mass_kg!r} must be within 20..250 kg")
        if self.leg_length_m is None and self.height_m is None:
            raise ConfigError("give leg_length_m or height_m (leg length ≈ 0.53 × height)")
        if self.leg_length_m is not None and not 0.4 <= self.leg_length_m <= 1.4:
            raise ConfigError(f"leg_length_m {self.leg_length_m!r} must be within 0.4..1.4 m")
        if self.height_m is not None and not 1.0 <= self.height_m <= 2.5:
            raise ConfigError(f"height_m {self.height_m!r} must be within 1.0..2.5 m")
        if not 0.02 <= self.at_moment_arm_m <= 0.08:
            raise ConfigError(f"at_moment_arm_m {self.at_moment_arm_m!r} must be 0.02..0.08 m")
        for name in ("lever_rearfoot_m", "lever_midfoot_m", "lever_forefoot_m"):
            if not 0.0 < getattr(self, name) <= 0.25:
                raise ConfigError(f"{name} must be within 0..0.25 m")

    @property
    def leg_m(self) -> float:
        """Leg length in metres (given, or 0.53 × height)."""
        if self.leg_length_m is not None:
            return float(self.leg_length_m)
        assert self.height_m is not None  # checked in __post_init__
        return LEG_LENGTH_PER_HEIGHT * float(self.height_m)

    def lever_m(self, strike_pattern: str) -> float:
        """Lever arm for a strike pattern; "unknown" uses the midfoot value."""
        return {
            "rearfoot": self.lever_rearfoot_m,
            "forefoot": self.lever_forefoot_m,
        }.get(strike_pattern, self.lever_midfoot_m)
