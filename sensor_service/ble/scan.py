"""Find pods in range and the firmware profile each one matches (``footpod scan``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bleak import BleakScanner

from sensor_service.ble.backend import backend_kwargs
from sensor_service.profiles import Profile, load_all_profiles, match_profile

__all__ = ["FoundPod", "scan_pods"]


@dataclass(frozen=True, slots=True)
class FoundPod:
    name: str | None
    address: str
    rssi_dbm: int | None
    service_uuids: tuple[str, ...]
    profile: str | None  # None: no profile matches (not a pod footpod knows)


async def scan_pods(
    *,
    backend: str = "system",
    timeout_s: float = 5.0,
    profiles: Sequence[Profile] | None = None,
    include_unknown: bool = False,
) -> list[FoundPod]:
    """Scan for ``timeout_s`` and match each advertiser against the firmware profiles."""
    known = list(profiles) if profiles is not None else load_all_profiles()
    found = await BleakScanner.discover(
        timeout=timeout_s, return_adv=True, **backend_kwargs(backend)
    )
    pods = []
    for device, adv in found.values():
        name = adv.local_name or device.name
        uuids = tuple(adv.service_uuids)
        profile = match_profile(name, list(uuids), known)
        if profile is None and not include_unknown:
            continue
        pods.append(
            FoundPod(
                name=name,
                address=device.address,
                rssi_dbm=adv.rssi,
                service_uuids=uuids,
                profile=None if profile is None else profile.name,
            )
        )
    return sorted(pods, key=lambda p: (p.profile or "~", p.name or "", p.address))
