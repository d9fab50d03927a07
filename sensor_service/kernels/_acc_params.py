"""Parameters of the accelerometer-only event detector (ankle, shank, or a foot pod without gyro).

Every default is a *tuned default*, not a published constant; each says where it comes from.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.kernels._params import G0_M_S2

__all__ = [
    "AccEventParams",
    "AccKernelParams",
    "acc_ring_length",
    "compile_acc_params",
    "pack_acc_params",
]


class AccEventParams(NamedTuple):
    """Tunable thresholds of the acc-only detector. Units are in the names."""

    #: The landing "jerk" is the second difference ``|acc[k] − 2·acc[k − L] + acc[k − 2L]|``
    #: over a lag ``L`` of this long (at least one sample): impulsive changes pass, the smooth
    #: accelerations of the swing nearly cancel.
    jerk_lag_ms: float = 5.0
    #: A jerk of at least this (g) opens a landing window of 2 · ``impact_peak_ms`` ...
    impact_min_jerk_g: float = 1.0
    #: ... whose largest jerk must reach this fraction of the recent landings' (exponential
    #: average with weight ``impact_track_weight``): a knock in swing is smaller than a landing.
    #: Low because sampled impact peaks vary a lot from step to step (sampling phase, shoe,
    #: surface); the refractory period does most of the work against the other foot's impact.
    impact_rel_frac: float = 0.3
    impact_track_weight: float = 0.3
    #: The first landing after a start or gap must reach this fraction of the next one's jerk.
    first_rel_frac: float = 0.5
    #: Within the refractory period, an impact this many times larger than the pending landing
    #: (and ``min_gct_ms`` after it) replaces it: the stride's largest impact is the landing.
    #: The first landing after a start or gap (no rhythm known yet) is replaced by any larger
    #: impact: a recording that starts mid-run may open on a push-off or a knock (cut mid-run
    #: and 2× soft-tissue rows of docs/accuracy.md, and the real walking rows, all improved).
    replace_jerk_ratio: float = 2.0
    #: The landing starts at the first change of at least this fraction of the window's largest.
    impact_rise_frac: float = 0.5
    #: Peak |acc| of the landing within this long of IC; it must reach ``impact_min_g``.
    impact_peak_ms: float = 30.0
    impact_min_g: float = 1.2
    #: IC: walking back from the first sample over threshold while the jerk stays at least this
    #: fraction of it finds the last pre-impact sample; IC lies ``onset_offset_samples`` after it.
    onset_rise_frac: float = 0.3
    onset_offset_samples: float = 0.5
    #: No landing of the same foot within this long of the previous one, nor within
    #: ``refractory_stride_frac`` of the previous stride (the other foot's impact, transmitted
    #: through the body, lands about half a stride later).
    min_stride_ms: float = 450.0
    refractory_stride_frac: float = 0.7
    #: ... but never longer than this: should the detector have locked onto every other stride
    #: (missed landings doubling the median), the next real landing still opens a window.
    #: Running strides are ≤ ~860 ms (cadence ≥ 140 spm).
    max_refractory_ms: float = 620.0
    #: A contact is completed when the next landing of the same foot is found (its TO window
    #: scales with that stride); with no landing within this long, it was the last one before
    #: a stop and is dropped (standing still, as the gyro detector does).
    max_stride_ms: float = 2500.0
    #: TO search window after IC: at least ``min_gct_ms`` and ``to_lo_stride_frac`` of the
    #: stride, at most ``max_gct_ms`` and ``to_hi_stride_frac`` of it. Running duty factors
    #: (contact / stride) are about 0.2–0.4 (160–320 ms contacts at 150–200 spm); the window keeps
    #: the impact and its soft-tissue ringing (first ~60 ms) and the swing's own acceleration
    #: minimum out. Walking (duty ~0.6) needs ``to_lo_stride_frac`` ≈ 0.3 and
    #: ``to_hi_stride_frac`` ≈ 0.75: the defaults are for running.
    min_gct_ms: float = 120.0
    max_gct_ms: float = 900.0
    to_lo_stride_frac: float = 0.15
    to_hi_stride_frac: float = 0.5
    #: The pod's "up" is the direction of its mean acceleration, an exponential average with this
    #: time constant (over whole strides the mean kinematic acceleration is zero, so the mean
    #: specific force is gravity: orientation-free, no standing calibration needed) ...
    axis_tau_s: float = 2.0
    #: ... and TO is the minimum of the acceleration along it (the unloading at toe-off),
    #: smoothed over this long (centred moving average) ...
    to_smooth_ms: float = 10.0
    #: ... shifted by this calibration offset (positive = later). 0 until real recordings with
    #: force truth are available to calibrate it.
    to_offset_ms: float = 0.0
    #: A sample counts as saturated when one acc axis reaches this fraction of the clip limit.
    clip_frac: float = 0.999
    #: Replace one-sample glitches (a sample far from both neighbours, which agree) ...
    despike: bool = True
    #: ... that jump at least this far (g).
    glitch_min_g: float = 1.0
    #: At the end of a recording the last contact has no next landing; it is kept when its TO
    #: window was seen whole and the smoothed "up" acceleration dips below this there (a foot
    #: still planted when the recording ends, a runner who stopped, has no toe-off and no dip;
    #: simulated running TOs dip to −1.3 g median, 0.1 g at the 95th percentile).
    end_to_max_up_g: float = 0.5
    #: ... and when the recording does not end standing: a standard deviation of |acc| below
    #: ``end_still_sd_g`` over its last ``end_still_ms`` means the runner stopped, and the
    #: "contact" was the stop plant, which has no toe-off (running: several g).
    end_still_sd_g: float = 0.2
    end_still_ms: float = 300.0

    @classmethod
    def for_walking(cls) -> AccEventParams:
        """Walking preset: contacts ~60 % of a ~1.1 s stride (the defaults are for running)."""
        return cls(
            to_lo_stride_frac=0.3,
            to_hi_stride_frac=0.75,
            max_gct_ms=1000.0,
            max_refractory_ms=1000.0,
        )


class AccKernelParams(NamedTuple):
    """:class:`AccEventParams` in samples and m/s², as the numba kernel takes them."""

    dt_s: float
    jerk_lag_n: int
    impact_min_jerk: float
    impact_rel_frac: float
    impact_track_weight: float
    first_rel_frac: float
    replace_jerk_ratio: float
    impact_rise_frac: float
    impact_peak_n: int
    impact_min_m_s2: float
    onset_rise_frac: float
    onset_offset: float
    min_stride_n: int
    refractory_stride_frac: float
    max_refractory_n: int
    max_stride_n: int
    min_gct_n: int
    max_gct_n: int
    to_lo_stride_frac: float
    to_hi_stride_frac: float
    to_smooth_n: int
    axis_weight: float
    to_offset_n: float
    clip_m_s2: float
    ring_mask: int
    despike: int
    glitch_min_m_s2: float
    end_to_max_up_m_s2: float
    end_still_sd_m_s2: float
    end_still_n: int


def _n(ms: float, fs: float) -> int:
    return round(ms * fs / 1000.0)


def acc_ring_length(params: AccEventParams, sampling_rate_hz: float) -> int:
    """Power-of-two ring covering the look-back of a held contact: its stride (TO is found
    when the next IC is known) and the refractory period in which that IC may be replaced."""
    need_ms = (
        params.max_stride_ms
        + max(params.max_refractory_ms, params.min_stride_ms)
        + 3.0 * params.impact_peak_ms
        + params.to_smooth_ms
        + 100.0
    )
    need = _n(need_ms, sampling_rate_hz) + 16
    return 1 << max(6, math.ceil(math.log2(need)))


def compile_acc_params(
    params: AccEventParams, sampling_rate_hz: float, clip_limit_m_s2: float | None
) -> AccKernelParams:
    """Validate ``params`` and convert them to samples at ``sampling_rate_hz``."""
    fs = float(sampling_rate_hz)
    if not (math.isfinite(fs) and 20.0 <= fs <= 10000.0):
        raise ConfigError(f"sampling_rate_hz {sampling_rate_hz!r} must be within 20..10000 Hz")
    for name, value in params._asdict().items():
        if name == "despike":
            continue
        if name == "to_offset_ms":
            ok = math.isfinite(value) and abs(value) <= 100.0
        else:
            ok = math.isfinite(value) and value >= 0
        if not ok:
            raise ConfigError(f"AccEventParams.{name} = {value!r} is out of range")
    if clip_limit_m_s2 is not None and not (math.isfinite(clip_limit_m_s2) and clip_limit_m_s2 > 0):
        raise ConfigError(f"clip_limit_m_s2 {clip_limit_m_s2!r} must be a positive number or None")
    if params.max_gct_ms <= params.min_gct_ms:
        raise ConfigError("AccEventParams.max_gct_ms must be longer than min_gct_ms")
    if not 0.0 < params.to_lo_stride_frac < params.to_hi_stride_frac < 1.0:
        raise ConfigError("AccEventParams: need 0 < to_lo_stride_frac < to_hi_stride_frac < 1")
    for name in (
        "onset_rise_frac",
        "impact_rel_frac",
        "impact_track_weight",
        "impact_rise_frac",
        "first_rel_frac",
    ):
        if not 0.0 < getattr(params, name) <= 1.0:
            raise ConfigError(f"AccEventParams.{name} must be within (0, 1]")
    if params.onset_offset_samples > 1.0:
        raise ConfigError("AccEventParams.onset_offset_samples must be within 0..1")
    return AccKernelParams(
        dt_s=1.0 / fs,
        jerk_lag_n=max(1, _n(params.jerk_lag_ms, fs)),
        impact_min_jerk=float(params.impact_min_jerk_g) * G0_M_S2,
        impact_rel_frac=float(params.impact_rel_frac),
        impact_track_weight=float(params.impact_track_weight),
        first_rel_frac=float(params.first_rel_frac),
        replace_jerk_ratio=float(params.replace_jerk_ratio),
        impact_rise_frac=float(params.impact_rise_frac),
        impact_peak_n=max(1, _n(params.impact_peak_ms, fs)),
        impact_min_m_s2=float(params.impact_min_g) * G0_M_S2,
        onset_rise_frac=float(params.onset_rise_frac),
        onset_offset=float(params.onset_offset_samples),
        min_stride_n=max(2, _n(params.min_stride_ms, fs)),
        refractory_stride_frac=float(params.refractory_stride_frac),
        max_refractory_n=max(2, _n(max(params.max_refractory_ms, params.min_stride_ms), fs)),
        max_stride_n=_n(params.max_stride_ms, fs),
        min_gct_n=max(1, _n(params.min_gct_ms, fs)),
        max_gct_n=_n(params.max_gct_ms, fs),
        to_lo_stride_frac=float(params.to_lo_stride_frac),
        to_hi_stride_frac=float(params.to_hi_stride_frac),
        to_smooth_n=max(1, _n(params.to_smooth_ms, fs)),
        axis_weight=min(1.0, 1.0 / (max(params.axis_tau_s, 1e-9) * fs)),
        to_offset_n=float(params.to_offset_ms) * fs / 1000.0,
        clip_m_s2=-1.0
        if clip_limit_m_s2 is None
        else float(clip_limit_m_s2) * float(params.clip_frac),
        ring_mask=acc_ring_length(params, fs) - 1,
        despike=1 if params.despike else 0,
        glitch_min_m_s2=float(params.glitch_min_g) * G0_M_S2,
        end_to_max_up_m_s2=float(params.end_to_max_up_g) * G0_M_S2,
        end_still_sd_m_s2=float(params.end_still_sd_g) * G0_M_S2,
        end_still_n=max(1, _n(params.end_still_ms, fs)),
    )


def pack_acc_params(kp: AccKernelParams) -> NDArray[np.float64]:
    """``kp`` as a float64 array in field order (cheap to pass to numba)."""
    return np.array([float(v) for v in kp], dtype=np.float64)
