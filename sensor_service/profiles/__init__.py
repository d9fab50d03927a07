"""Firmware profiles: find a pod, start its stream, decode notifications into SI samples.

One TOML file per pod model in ``firmware_profiles/`` (format: ``firmware_profiles/README.md``;
byte layouts: FIRMWARE.md). Typical use by the reader::

    profile = match_profile(device.name, advertised_uuids, load_all_profiles())
    decoder = profile.make_decoder(profile.info_params(info_bytes))
    packet = decoder.decode(notification)  # DecodedPacket | None, or DecodeError
"""

from __future__ import annotations

from sensor_service.profiles._footpod import (
    FootpodInfo,
    encode_footpod_data,
    encode_footpod_info,
    footpod_set_rate_command,
    parse_footpod_info,
)
from sensor_service.profiles._load import (
    PROFILES_DIR_ENV,
    default_profiles_dir,
    load_all_profiles,
    load_profile,
    match_profile,
    normalize_uuid,
    validate_profile_file,
)
from sensor_service.profiles._model import (
    AXES,
    G_M_S2,
    Capabilities,
    DecodedPacket,
    Decoder,
    DecoderSpec,
    Discovery,
    Gatt,
    Mounting,
    ParamValue,
    Profile,
    ProfileError,
    ProfileInfo,
    Rates,
    RscMeasurement,
    Scaling,
    Step,
    Timestamps,
)
from sensor_service.profiles._registry import DECODERS

__all__ = [
    "AXES",
    "DECODERS",
    "G_M_S2",
    "PROFILES_DIR_ENV",
    "Capabilities",
    "DecodedPacket",
    "Decoder",
    "DecoderSpec",
    "Discovery",
    "FootpodInfo",
    "Gatt",
    "Mounting",
    "ParamValue",
    "Profile",
    "ProfileError",
    "ProfileInfo",
    "Rates",
    "RscMeasurement",
    "Scaling",
    "Step",
    "Timestamps",
    "default_profiles_dir",
    "encode_footpod_data",
    "encode_footpod_info",
    "footpod_set_rate_command",
    "load_all_profiles",
    "load_profile",
    "match_profile",
    "normalize_uuid",
    "parse_footpod_info",
    "validate_profile_file",
]
