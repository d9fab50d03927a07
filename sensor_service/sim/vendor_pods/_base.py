"""What every vendor pod shares: its firmware profile, UUIDs from it, clipping, pod clocks."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.profiles import G_M_S2, Profile, load_profile
from sensor_service.sim.pod_peripheral import SampleSource, SimulatedPodBase

__all__ = ["PodOptions", "VendorPod", "clip_round"]


class PodOptions(TypedDict, total=False):
    """Keyword options every vendor pod takes (see :class:`VendorPod`)."""

    side: str
    rate_hz: float | None
    address: str | None
    speed: float
    battery_pct: int


def clip_round(values: NDArray[np.float64], limit: float) -> NDArray[np.int64]:
    """Round to integer counts and saturate at ±``limit`` (as a sensor's range does)."""
    return np.clip(np.rint(values), -limit, limit).astype(np.int64)


class VendorPod(SimulatedPodBase):
    """A simulated pod answering the firmware profile :attr:`profile_name`.

    GATT UUIDs and the advertised service UUIDs come from the profile file, so the pod and the
    reader agree by construction. Keyword arguments (besides those of
    :class:`~sensor_service.sim.pod_peripheral.SimulatedPodBase`): ``side`` (kept for the
    caller, no vendor protocol reports it). ``rate_hz`` defaults to the source's rate when the
    profile allows it, else the profile's default rate; the start sequence may change it.
    """

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        side: str = "unknown",
        rate_hz: float | None = None,
        address: str | None = None,
        speed: float = 1.0,
        battery_pct: int = 87,
    ) -> None:
        self.profile: Profile = load_profile(self.profile_name)
        if rate_hz is None:
            source_rate = float(source.sampling_rate_hz)
            rates = self.profile.rates
            rate_hz = source_rate if rates.check(source_rate) else rates.default_hz
        super().__init__(
            name=name,
            source=source,
            rate_hz=rate_hz,
            address=address,
            speed=speed,
            battery_pct=battery_pct,
        )
        self.side = side

    @property
    def advertised_uuids(self) -> list[str]:
        """The profile's discovery service UUIDs (else its GATT service)."""
        return list(self.profile.discovery.service_uuids) or [self.profile.gatt.service]

    def _uuid(self, role: str) -> str:
        uuid = self.profile.gatt.resolve(role)
        if uuid is None:
            raise ConfigError(f"profile {self.profile_name} declares no {role!r} characteristic")
        return uuid

    @staticmethod
    def _g(acc_m_s2: NDArray[np.float64]) -> NDArray[np.float64]:
        """m/s² → g."""
        return np.asarray(acc_m_s2, dtype=np.float64) / G_M_S2
