"""Named decoders and info parsers that profiles select by name (``decoder.named``).

A named decoder exists for what a fixed layout cannot say: optional fields (RSC), split packets
(Movesense), delta compression (Polar PMD), range-dependent scales (MetaMotion), resynchronising
streams (WitMotion). Each entry lists the parameters a profile must declare defaults for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sensor_service.profiles._footpod import parse_footpod_info
from sensor_service.profiles._layout import LayoutDecoder
from sensor_service.profiles._metawear import MetaWearDecoder
from sensor_service.profiles._model import Decoder, ParamValue, Profile
from sensor_service.profiles._movesense import MovesenseDecoder
from sensor_service.profiles._polar import PolarPmdDecoder
from sensor_service.profiles._rsc import RscDecoder
from sensor_service.profiles._witmotion import WitMotionDecoder

__all__ = ["DECODERS", "INFO_PARSERS", "NamedDecoder", "build_decoder"]


@dataclass(frozen=True, slots=True)
class NamedDecoder:
    """A decoder in code: its factory and the parameters the profile must give defaults for."""

    factory: Callable[[Profile, Mapping[str, ParamValue]], Decoder]
    required_params: Mapping[str, ParamValue] = field(default_factory=dict)
    doc: str = ""


#: Decoder name (``decoder.named``) → implementation.
DECODERS: dict[str, NamedDecoder] = {
    "rsc": NamedDecoder(
        RscDecoder,
        {"cadence_unit": "steps"},
        "Bluetooth SIG RSC Measurement 0x2A53 (FIRMWARE.md §1)",
    ),
    "movesense-sensordata": NamedDecoder(
        MovesenseDecoder,
        {"ref": 99.0, "sensors": "IMU6"},
        "Movesense GATT SensorData Protocol, split packets joined (FIRMWARE.md §2)",
    ),
    "polar-pmd": NamedDecoder(
        PolarPmdDecoder,
        {"acc_factor": 1.0, "gyr_factor": 1.0, "resolution_bits": 16.0},
        "Polar PMD ACC/GYRO, raw and delta-compressed frames (FIRMWARE.md §3)",
    ),
    "metawear": NamedDecoder(
        MetaWearDecoder,
        {"acc_range_g": 8.0, "gyr_range_dps": 2000.0},
        "MbientLab MetaMotion BMI160/BMI270, single and packed (FIRMWARE.md §4)",
    ),
    "witmotion-wt901": NamedDecoder(
        WitMotionDecoder,
        {},
        "WitMotion BWT901BLE 55 61 stream with resync (FIRMWARE.md §6)",
    ),
}

#: Info characteristic parsers (``gatt.info_parser``): bytes → decoder parameters.
INFO_PARSERS: dict[str, Callable[[bytes], dict[str, ParamValue]]] = {
    "footpod_info": lambda data: parse_footpod_info(data).decoder_params(),
}


def build_decoder(profile: Profile, params: Mapping[str, ParamValue]) -> Decoder:
    """The decoder a profile selects, built with resolved parameters."""
    if profile.decoder.named is None:
        return LayoutDecoder(profile, params)
    return DECODERS[profile.decoder.named].factory(profile, params)
