"""Axis codes a pod declares for how it sits on the foot (the rotation itself is
:meth:`sensor_service.profiles.Mounting.rotation`).

Foot frame (gaitmap's, both feet): x toward the toe, y to the runner's left, z up. A pod declares
which of its own axes points forward and which points left, as axis codes
``0=+x 1=-x 2=+y 3=-y 4=+z 5=-z`` (footpod-imu/1 info characteristic, FIRMWARE.md §0) or as
strings ``"+x"``, ``"-z"`` in a firmware profile.
"""

from __future__ import annotations

from sensor_service.errors import ConfigError
from sensor_service.profiles import AXES as AXIS_NAMES

__all__ = ["AXIS_NAMES", "axis_code"]


def axis_code(axis: str | int) -> int:
    """Accept ``"+x"``-style names or codes 0..5; return the code."""
    if isinstance(axis, int) and not isinstance(axis, bool) and 0 <= axis < 6:
        return axis
    if isinstance(axis, str) and axis in AXIS_NAMES:
        return AXIS_NAMES.index(axis)
    raise ConfigError(f"axis {axis!r} is not one of {AXIS_NAMES} (or codes 0..5)")
