"""Simulated pods for every firmware profile: one encoder + protocol responder per vendor.

Each pod encodes a sample source (e.g. :class:`~sensor_service.sim.sources.FootSampleSource`)
in its vendor's protocol (FIRMWARE.md §0–§6) and answers the start / stop sequence of its
profile in ``firmware_profiles/``, on the bumble virtual link of the running loop::

    source = FootSampleSource(sim, "left", sampling_rate_hz=104.0)
    async with make_simulated_pod("movesense-imu6", name="Movesense 2", source=source,
                                  side="left", speed=4.0) as pod:
        ...  # scan, connect with bleak (backend_kwargs("virtual")) to pod.address

All pods share :class:`~sensor_service.sim.pod_peripheral.SimulatedPodBase` (GATT, advertising,
pacing, streaming across reconnects): ``async start()``, ``stop()`` / ``close()``,
``async with``, ``.address``, ``.packets_sent``, ``.packets_dropped``, ``.finished``.
"""

from __future__ import annotations

from typing import Any, Final

from sensor_service.errors import ConfigError
from sensor_service.sim.pod_peripheral import SampleSource, SimulatedPod, SimulatedPodBase
from sensor_service.sim.vendor_pods.metawear import MetaWearPod
from sensor_service.sim.vendor_pods.movesense import MovesensePod
from sensor_service.sim.vendor_pods.polar import PolarPmdPod
from sensor_service.sim.vendor_pods.rsc import RscPod
from sensor_service.sim.vendor_pods.thingy52 import Thingy52Pod
from sensor_service.sim.vendor_pods.witmotion import WitMotionPod

__all__ = [
    "POD_TYPES",
    "MetaWearPod",
    "MovesensePod",
    "PolarPmdPod",
    "RscPod",
    "Thingy52Pod",
    "WitMotionPod",
    "make_simulated_pod",
]

#: Firmware profile name → simulated pod class.
POD_TYPES: Final[dict[str, type[SimulatedPodBase]]] = {
    SimulatedPod.profile_name: SimulatedPod,
    MovesensePod.profile_name: MovesensePod,
    PolarPmdPod.profile_name: PolarPmdPod,
    MetaWearPod.profile_name: MetaWearPod,
    Thingy52Pod.profile_name: Thingy52Pod,
    WitMotionPod.profile_name: WitMotionPod,
    RscPod.profile_name: RscPod,
}


def make_simulated_pod(
    profile_name: str, *, name: str, source: SampleSource, side: str = "unknown", **options: Any
) -> SimulatedPodBase:
    """A simulated pod speaking the protocol of firmware profile ``profile_name``.

    ``options`` are the pod class's keyword arguments (``speed``, ``address``,
    ``battery_pct``, ``rate_hz`` and per-vendor ones; see each class).

    Raises:
        ConfigError: unknown profile, unknown option or invalid value.
    """
    cls = POD_TYPES.get(profile_name)
    if cls is None:
        raise ConfigError(
            f"no simulated pod for profile {profile_name!r}: use one of {', '.join(POD_TYPES)}"
        )
    try:
        pod: SimulatedPodBase = cls(name=name, source=source, side=side, **options)  # type: ignore[call-arg]
    except TypeError as exc:
        raise ConfigError(f"simulated {profile_name} pod: {exc}") from exc
    return pod
