"""Gait event kernels: streaming initial-contact / toe-off detection for foot-worn IMU pods.

Public API: :class:`StepDetector` (one per pod, streaming), :func:`detect_steps` (batch, identical
to any chunking of the stream), :data:`STEP_DTYPE` (one row per ground contact) and
:class:`EventParams` (tunable thresholds). The method and its sources are described in
:mod:`sensor_service.kernels._event_kernel`; a slow NumPy reference lives in
:mod:`sensor_service.kernels.reference`.
"""

from __future__ import annotations

from sensor_service.kernels._detector import PLACEMENTS, StepDetector, detect_steps
from sensor_service.kernels._params import EventParams
from sensor_service.kernels._steps import STEP_DTYPE

__all__ = ["PLACEMENTS", "STEP_DTYPE", "EventParams", "StepDetector", "detect_steps"]
