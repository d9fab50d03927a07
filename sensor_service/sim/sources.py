"""Sample sources that feed simulated pods: one foot of a simulated runner, in the pod's frame."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sensor_service.profiles import Mounting
from sensor_service.sim.gait import GaitSimulator

__all__ = ["FootSampleSource"]


class FootSampleSource:
    """Reads one foot of a :class:`GaitSimulator` in consecutive chunks, as the pod measures it.

    ``forward_axis``/``left_axis`` say how the pod is strapped on (the pod reports them in its
    info characteristic); ``misalignment_deg`` is an undeclared extra pitch of the pod on the
    shoe, as a real strap leaves it.
    """

    def __init__(
        self,
        sim: GaitSimulator,
        side: str,
        *,
        sampling_rate_hz: float,
        forward_axis: str = "+x",
        left_axis: str = "+y",
        misalignment_deg: float = 0.0,
    ) -> None:
        self.sim = sim
        self.side = side
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.n_total = int(sim.end_s * self.sampling_rate_hz)
        self.position = 0
        ang = np.deg2rad(misalignment_deg)
        c, s = np.cos(ang), np.sin(ang)
        tilt = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        # foot = R @ pod  =>  pod = R.T @ foot; the misalignment tilts the pod about foot y.
        rotation = Mounting().with_axes(forward_axis, left_axis).rotation()  # foot = R @ pod
        self._foot_to_pod = rotation.T @ tilt.T

    def read(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Next ``n`` samples (fewer at the end) as (acc m/s², gyr deg/s); None after the end."""
        if self.position >= self.n_total:
            return None
        stop = min(self.position + n, self.n_total)
        t = np.arange(self.position, stop, dtype=np.float64) / self.sampling_rate_hz
        self.position = stop
        acc, gyr = self.sim.render(self.side, t)
        return acc @ self._foot_to_pod.T, gyr @ self._foot_to_pod.T
