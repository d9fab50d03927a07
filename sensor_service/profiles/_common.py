"""Helpers shared by the decoders: scaled sample blocks, saturation, sample periods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from sensor_service.errors import ConfigError, DecodeError
from sensor_service.profiles._model import ParamValue, Profile
from sensor_service.profiles._units import scale_factors

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["DecoderContext", "check_finite", "int_saturated", "param_float", "param_str"]


def param_float(profile: Profile, params: Mapping[str, ParamValue], key: str) -> float:
    """A numeric decoder parameter; ConfigError when missing or not a number."""
    value = params.get(key)
    if value is None or isinstance(value, str):
        raise ConfigError(f"profile {profile.name}: decoder parameter {key!r} must be a number")
    return float(value)


def param_str(
    profile: Profile, params: Mapping[str, ParamValue], key: str, choices: tuple[str, ...]
) -> str:
    """A string decoder parameter restricted to ``choices``."""
    value = str(params.get(key, ""))
    if value not in choices:
        raise ConfigError(
            f"profile {profile.name}: decoder parameter {key!r} must be one of "
            f"{', '.join(choices)}, got {value!r}"
        )
    return value


class DecoderContext:
    """What every decoder of a profile needs: SI factors, sample period, tick unit."""

    def __init__(self, profile: Profile, params: Mapping[str, ParamValue]) -> None:
        self.profile = profile
        self.params = dict(params)
        try:
            self.acc_factor, self.gyro_factor = scale_factors(profile.scaling, params)
        except ValueError as exc:
            raise ConfigError(f"profile {profile.name}: scaling: {exc}") from exc
        rate = params.get("sampling_rate_hz")
        self.sample_period_s: float | None = None
        if rate is not None:
            rate_hz = param_float(profile, params, "sampling_rate_hz")
            if not rate_hz > 0:
                raise ConfigError(f"profile {profile.name}: sampling_rate_hz must be > 0")
            self.sample_period_s = 1.0 / rate_hz
        self.tick_unit_s = profile.timestamps.tick_unit_s


def int_saturated(raw: NDArray[np.integer] | None, dtype: np.dtype[np.integer]) -> bool:
    """Whether any raw integer value sits at the limit of its type (a clipped sample)."""
    if raw is None or raw.size == 0:
        return False
    info = np.iinfo(dtype)
    return bool(np.any(raw == info.max) or np.any(raw == info.min))


def check_finite(values: NDArray[np.float64], what: str) -> None:
    """DecodeError ``bad_value`` when a float sample is NaN or infinite."""
    if not np.all(np.isfinite(values)):
        raise DecodeError("bad_value", f"{what} holds NaN or infinity")
