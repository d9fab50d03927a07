"""Gait event kernels: streaming initial-contact / toe-off detection for foot-worn IMU pods.

Public API:

* :class:`StepDetector`: one per pod, streaming (``feed`` / ``gap`` / ``flush``); a foot pod with
  gyroscope uses the pitch-velocity method (``_event_kernel``), ankle / shank pods and any pod
  without gyroscope the orientation-free acc-only method (``_acc_kernel``, :class:`AccEventParams`);
* :func:`detect_steps`: batch, identical to any chunking of the stream;
* :data:`STEP_DTYPE`: one row per ground contact; :class:`EventParams`: tunable thresholds;
* :func:`classify_strike`: rearfoot / midfoot / forefoot from the strike angle (cut-offs are
  parameters: they are unverified);
* :func:`estimate_mounting`: pod → foot frame rotation from gait data, so results do not depend
  on how the pod is strapped on (:class:`MountingError` when the data cannot tell).

The method and its sources are described in :mod:`sensor_service.kernels._event_kernel`; a slow
NumPy reference of the same algorithm lives in :mod:`sensor_service.kernels.reference`.
"""

from __future__ import annotations

from sensor_service.kernels._acc_params import AccEventParams
from sensor_service.kernels._detector import PLACEMENTS, StepDetector, detect_steps
from sensor_service.kernels._mounting import MountingError, estimate_mounting
from sensor_service.kernels._params import EventParams
from sensor_service.kernels._steps import STEP_DTYPE
from sensor_service.kernels._strike import classify_strike

__all__ = [
    "PLACEMENTS",
    "STEP_DTYPE",
    "AccEventParams",
    "EventParams",
    "MountingError",
    "StepDetector",
    "classify_strike",
    "detect_steps",
    "estimate_mounting",
]
