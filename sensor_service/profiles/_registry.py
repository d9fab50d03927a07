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
from sensor_service.profiles._model import Decoder, ParamValue, Profile

__all__ = ["DECODERS", "INFO_PARSERS", "NamedDecoder", "build_decoder"]


@dataclass(frozen=True, slots=True)
class NamedDecoder:
    """A decoder in code: its factory and the parameters the profile must give defaults for."""

    factory: Callable[[Profile, Mapping[str, ParamValue]], Decoder]
    required_params: Mapping[str, ParamValue] = field(default_factory=dict)
    doc: str = ""


DECODERS: dict[str, NamedDecoder] = {}

#: Info characteristic parsers (``gatt.info_parser``): bytes → decoder parameters.
INFO_PARSERS: dict[str, Callable[[bytes], dict[str, ParamValue]]] = {
    "footpod_info": lambda data: parse_footpod_info(data).decoder_params(),
}


def build_decoder(profile: Profile, params: Mapping[str, ParamValue]) -> Decoder:
    """The decoder a profile selects, built with resolved parameters."""
    if profile.decoder.named is None:
        return LayoutDecoder(profile, params)
    return DECODERS[profile.decoder.named].factory(profile, params)
