"""Pod frame ↔ foot frame, from the axis codes a pod or profile declares.

Foot frame (gaitmap's, both feet): x toward the toe, y to the runner's left, z up. A pod declares
which of its own axes points forward and which points left, as axis codes
``0=+x 1=-x 2=+y 3=-y 4=+z 5=-z`` (footpod-imu/1 info characteristic, FIRMWARE.md §0) or as
strings ``"+x"``, ``"-z"`` in a firmware profile.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import ConfigError

__all__ = ["AXIS_NAMES", "axis_code", "pod_to_foot_rotation"]

AXIS_NAMES: Final = ("+x", "-x", "+y", "-y", "+z", "-z")


def axis_code(axis: str | int) -> int:
    """Accept ``"+x"``-style names or codes 0..5; return the code."""
    if isinstance(axis, int) and not isinstance(axis, bool) and 0 <= axis < 6:
        return axis
    if isinstance(axis, str) and axis in AXIS_NAMES:
        return AXIS_NAMES.index(axis)
    raise ConfigError(f"axis {axis!r} is not one of {AXIS_NAMES} (or codes 0..5)")


def _unit(code: int) -> NDArray[np.float64]:
    vec = np.zeros(3)
    vec[code // 2] = -1.0 if code % 2 else 1.0
    return vec


def pod_to_foot_rotation(forward: str | int, left: str | int) -> NDArray[np.float64]:
    """3×3 matrix ``R`` with ``v_foot = R @ v_pod`` for a pod whose axes are declared so."""
    fwd, lft = _unit(axis_code(forward)), _unit(axis_code(left))
    if abs(float(fwd @ lft)) > 0.5:
        raise ConfigError(f"forward axis {forward!r} and left axis {left!r} must be perpendicular")
    up = np.cross(fwd, lft)
    # Rows are the foot axes expressed in pod coordinates.
    return np.vstack([fwd, lft, up])
