"""Parameters of the gait event detector: user-facing (milliseconds, deg/s) and kernel (samples).

Every default here is a *tuned default*, not a published constant: each one says where it comes
from. They are all configurable through :class:`EventParams`.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import ConfigError

__all__ = [
    "G0_M_S2",
    "EventParams",
    "KernelParams",
    "compile_params",
    "pack_params",
    "ring_history",
    "ring_length",
]

#: Standard gravity (m/s²), used to express peaks in g and to recognise a still foot.
G0_M_S2: Final = 9.80665


class EventParams(NamedTuple):
    """Tunable thresholds of the event detector. Units are in the names.

    Defaults were chosen on the real gaitmap walking recording and the simulated running model
    (``sensor_service.sim.gait``); see ``tests/kernels`` for the accuracy they reach.
    """

    #: A swing is pitch velocity below ``-swing_gyr_deg_s`` (toe rising, dorsiflexion direction).
    #: Walking swing reaches about −300 deg/s (gaitmap sample), running −400…−1000 deg/s.
    swing_gyr_deg_s: float = 100.0
    #: ... sustained at least this long. A heel drop after a forefoot landing is shorter and is
    #: anyway ignored inside a contact (see ``min_gct_ms``).
    min_swing_ms: float = 40.0
    #: The IC search window starts this long before the swing ends (pitch velocity back above
    #: ``-swing_gyr_deg_s``): a rearfoot strike can land while the foot still rotates toe-up.
    #: Kept short: on the real walking sample a mid-swing knock 60 ms before the swing end
    #: would otherwise be taken for the landing.
    ic_before_swing_end_ms: float = 30.0
    #: The IC search window ends when the foot is still (see ``still_*``), or at the latest this
    #: long after the swing ended (a runner who never rests the foot flat).
    ic_after_swing_end_max_ms: float = 250.0
    #: Still foot (foot flat, mid-stance): gyro norm below this and |acc| within ``still_acc_m_s2``
    #: of 1 g, for ``still_ms``. It closes the IC search window and references the strike angle.
    still_gyr_deg_s: float = 100.0
    still_acc_m_s2: float = 4.0
    still_ms: float = 20.0
    #: A landing must show a peak |acc| of at least this (else the swing did not end in a contact).
    #: 1.2 g, not 1.5: at ~100 Hz the ~45 Hz impact transient is sampled 2× per period and its
    #: sampled peak often stays below 1.5 g on midfoot / forefoot landings (recall 0.986 → 0.995
    #: on the 104 Hz sim). A candidate change without such a peak is skipped, not the step.
    impact_min_g: float = 1.2
    #: Peak |acc| of the landing is taken over this long from the impact onset.
    impact_peak_ms: float = 30.0
    #: The landing shows as a sudden change of the acc vector and of the gyro vector (impact, foot
    #: slap or heel drop). Per sample: |Δ²acc| + ``impact_gyr_weight`` · |Δ²gyr| (m/s² per deg/s),
    #: second differences over ``jerk_lag_ms`` (a change of slope; see ``_event_kernel``).
    impact_gyr_weight: float = 0.2
    #: ... with the changes taken over this lag (at least one sample).
    jerk_lag_ms: float = 5.0
    #: The landing is the first change in the IC window that reaches this fraction of the largest
    #: change there (later, larger changes, e.g. the end of the foot slap, are not the contact).
    #: 0.35, not 0.5: the first lobe of a ringing impact can be smaller than a later one, and a
    #: later lobe would put IC 5–9 ms late (tuned on the "realistic touchdown" sim, report
    #: seeds 107–205) ...
    impact_rise_frac: float = 0.35
    #: ... and this many times the median change in the window (sensor noise must not pass).
    impact_noise_factor: float = 3.0
    #: ... and it starts where, walking back, the change falls below this fraction of it: that is
    #: the last pre-impact sample ...
    onset_rise_frac: float = 0.3
    #: ... and IC lies this many samples after it (0.5: the middle of the sample interval in which
    #: the impact starts).
    onset_offset_samples: float = 0.5
    #: Contact time bounds. Running contacts are 160–320 ms (brief); walking up to ~900 ms.
    #: A contact longer than ``max_gct_ms`` is standing still, not a step.
    min_gct_ms: float = 100.0
    max_gct_ms: float = 1500.0
    #: Strike angle is only reported when a still-foot reference is at most this old.
    max_ref_age_ms: float = 3000.0
    #: A sample counts as saturated when one acc axis reaches this fraction of the clip limit.
    clip_frac: float = 0.999
    #: TO is the vertex of a least-squares parabola through the pitch velocity within this
    #: half-width of its largest sample (at least one sample: the 3-point parabola). With gyro
    #: noise σ the 3-point vertex of a peak of curvature c moves by ~√(2σ/c): ±7 ms for 8 deg/s
    #: on a 600 deg/s push-off peak; a fit over ±``to_fit_ms`` averages it down. Wider fits
    #: bias TO early (the push-off peak is asymmetric): 10 ms moved walking TO by +1.5 ms.
    to_fit_ms: float = 5.0
    #: 1: IC is placed where the rising edge of the landing jerk, extrapolated linearly from
    #: its first two steep samples, meets the pre-impact level (sub-sample onset; matters at
    #: ~100 Hz where a sample is 10 ms). 0: ``onset_offset_samples`` after the last quiet sample.
    onset_extrapolate: float = 1.0
    #: After a landing the foot can rotate toe-up only by the heel drop of a forefoot strike
    #: (strike angle −7.9 ± 2.8°, JSSM 2025, SCIENCE.md §2): an impact-like change followed by a
    #: larger toe-up rotation (pitch integral) happened in the air (a mid-swing knock or a pause
    #: of the swing) and is not the landing. 30° is generous (> 7 SD beyond the forefoot mean).
    max_heel_drop_deg: float = 30.0


class KernelParams(NamedTuple):
    """:class:`EventParams` converted to samples, as the numba kernel takes them."""

    dt_s: float
    swing_gyr_deg_s: float
    min_swing_n: int
    ic_before_n: int
    ic_after_max_n: int
    still_gyr2: float  # still: |gyr|² below this ...
    still_acc_lo2: float  # ... and |acc|² within these (squared, no square root per sample)
    still_acc_hi2: float
    still_n: int
    impact_min_m_s2: float
    impact_peak_n: int
    impact_gyr_weight: float
    impact_rise_frac: float
    onset_rise_frac: float
    onset_offset: float
    min_gct_n: int
    max_gct_n: int
    max_ref_age_n: int
    clip_m_s2: float  # <= 0: no clip detection
    ring_mask: int
    jerk_lag_n: int
    impact_noise_factor: float
    to_fit_n: int
    onset_extrapolate: int
    max_heel_drop_deg: float


def _n(ms: float, fs: float) -> int:
    return round(ms * fs / 1000.0)


def ring_history(params: EventParams, sampling_rate_hz: float) -> int:
    """Samples of look-back the kernel needs: the raw samples it reads back from the newest."""
    need_ms = max(
        params.max_gct_ms + params.min_swing_ms,  # TO search and clip scan back to IC
        # IC window, and the sums behind the second difference of its first sample
        params.ic_before_swing_end_ms + params.ic_after_swing_end_max_ms + 3.0 * params.jerk_lag_ms,
        params.max_ref_age_ms,  # strike angle: the pitch integral back to the still reference
    )
    return _n(need_ms, sampling_rate_hz) + 16  # + rounding of each window to samples


def ring_length(params: EventParams, sampling_rate_hz: float) -> int:
    """Power-of-two ring of raw samples: the look-back plus at least as many new samples (a
    block is copied in and processed in chunks of ``ring − look-back``)."""
    return 1 << max(6, math.ceil(math.log2(2 * ring_history(params, sampling_rate_hz))))


def compile_params(
    params: EventParams, sampling_rate_hz: float, clip_limit_m_s2: float | None
) -> KernelParams:
    """Validate ``params`` and convert them to samples at ``sampling_rate_hz``."""
    fs = float(sampling_rate_hz)
    if not (math.isfinite(fs) and 20.0 <= fs <= 10000.0):
        raise ConfigError(f"sampling_rate_hz {sampling_rate_hz!r} must be within 20..10000 Hz")
    for name, value in params._asdict().items():
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"EventParams.{name} = {value!r} must be a finite number ≥ 0")
    if clip_limit_m_s2 is not None and not (math.isfinite(clip_limit_m_s2) and clip_limit_m_s2 > 0):
        raise ConfigError(f"clip_limit_m_s2 {clip_limit_m_s2!r} must be a positive number or None")
    kp = KernelParams(
        dt_s=1.0 / fs,
        swing_gyr_deg_s=float(params.swing_gyr_deg_s),
        min_swing_n=max(2, _n(params.min_swing_ms, fs)),
        ic_before_n=_n(params.ic_before_swing_end_ms, fs),
        ic_after_max_n=max(1, _n(params.ic_after_swing_end_max_ms, fs)),
        still_gyr2=float(params.still_gyr_deg_s) ** 2,
        # |a − g| < s  ⇔  (g − s)² < a² < (g + s)²  (the lower bound only when s < g)
        still_acc_lo2=(G0_M_S2 - params.still_acc_m_s2) ** 2
        if params.still_acc_m_s2 < G0_M_S2
        else -1.0,
        still_acc_hi2=(G0_M_S2 + params.still_acc_m_s2) ** 2,
        still_n=max(1, _n(params.still_ms, fs)),
        impact_min_m_s2=float(params.impact_min_g) * G0_M_S2,
        impact_peak_n=max(1, _n(params.impact_peak_ms, fs)),
        impact_gyr_weight=float(params.impact_gyr_weight),
        impact_rise_frac=float(params.impact_rise_frac),
        onset_rise_frac=float(params.onset_rise_frac),
        onset_offset=float(params.onset_offset_samples),
        min_gct_n=max(1, _n(params.min_gct_ms, fs)),
        max_gct_n=_n(params.max_gct_ms, fs),
        max_ref_age_n=_n(params.max_ref_age_ms, fs),
        clip_m_s2=-1.0
        if clip_limit_m_s2 is None
        else float(clip_limit_m_s2) * float(params.clip_frac),
        ring_mask=ring_length(params, fs) - 1,
        jerk_lag_n=max(1, _n(params.jerk_lag_ms, fs)),
        impact_noise_factor=float(params.impact_noise_factor),
        # the fit reads h samples past the peak: at most the confirmed swing (min_swing_n − 1)
        to_fit_n=max(1, min(_n(params.to_fit_ms, fs), max(2, _n(params.min_swing_ms, fs)) - 1)),
        onset_extrapolate=int(params.onset_extrapolate != 0.0),
        max_heel_drop_deg=float(params.max_heel_drop_deg),
    )
    if kp.ring_mask + 1 > 1 << 22:
        raise ConfigError("EventParams windows are too long for the sampling rate (ring > 4M)")
    if kp.max_gct_n <= kp.min_gct_n:
        raise ConfigError("EventParams.max_gct_ms must be longer than min_gct_ms")
    for name in ("impact_rise_frac", "onset_rise_frac"):
        if not 0.0 < getattr(kp, name) <= 1.0:
            raise ConfigError(f"EventParams.{name} must be within (0, 1]")
    if kp.onset_offset > 1.0:
        raise ConfigError("EventParams.onset_offset_samples must be within 0..1")
    return kp


def pack_params(kp: KernelParams) -> NDArray[np.float64]:
    """``kp`` as a float64 array in field order (integers are exact): a cheap kernel argument.

    Passing a NamedTuple to a numba function costs about 0.6 µs per call for unboxing; an array
    costs almost nothing, and the kernel rebuilds the NamedTuple from it.
    """
    return np.array([float(v) for v in kp], dtype=np.float64)
