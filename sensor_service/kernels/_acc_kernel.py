"""Streaming accelerometer-only gait event kernel (numba): ankle, shank, or a foot pod without gyro.

Method
------
Orientation-free: only ``|acc|`` and the change of the acc vector are used, so the pod may be
strapped in any orientation and no mounting estimate is needed (a mounting error cannot bias it).

* **Landing jerk.** ``|acc[k] − acc[k − L]|`` over ``jerk_lag_ms`` (as in the gyro kernel).
* **Initial contact (IC).** The impact transient is the sharpest change of the acceleration in a
  running stride, at the foot (Bailey & Harle 2014: foot impacts reach tens of g) and at the
  distal tibia (Aubol et al. 2020, as implemented by Kiernan et al. 2023: IC from the resultant
  acceleration and its jerk; Mercer et al. 2003 / Purcell et al. 2006: IC at the start of the
  tibial shock). A landing starts at the first sample whose jerk reaches ``impact_min_jerk_g`` and
  ``impact_rel_frac`` of the recent landings' jerk (an exponential average), outside a refractory
  period after the previous landing (``min_stride_ms`` and ``refractory_stride_frac`` of the last
  stride: the other foot's impact, transmitted through the body, arrives half a stride later).
  Walking back while the jerk stays above ``onset_rise_frac`` of it gives the last pre-impact
  sample; IC lies half a sample after it (same convention as the gyro kernel). The landing must
  reach ``impact_min_g`` within ``impact_peak_ms``.
* **Toe-off (TO).** The hard part without a gyroscope. At push-off the foot rolls over the ball
  and plantar-flexes at its fastest around TO (Falbriard et al. 2018: the plantar-flexion peak of
  the foot's pitch velocity marks TO within 4±2 ms). A point above the ball (a dorsal foot pod, the
  ankle joint, the distal shank) then moves on a circle about the ball, so its centripetal
  acceleration ``ω²·r`` peaks with ``ω``: TO is the peak of ``|acc|`` (moving average over
  ``to_smooth_ms``, parabola-refined) in a window ``[IC + max(min_gct, lo·stride), IC + min(max_gct,
  hi·stride)]`` scaled by the stride that this contact starts; this is the "second (push-off) peak"
  of the tibial acceleration that Mercer et al. 2003 and Sinclair et al. 2013 anchor their TO to.
  The window's fractions of the stride keep the impact ringing and the next swing out (running
  duty factors are 0.2–0.4). ``to_offset_ms`` is a calibration offset (default 0: uncalibrated).
  Because the window needs the stride, a contact is emitted when the next landing of the same
  foot is found (one stride of latency); the last landing before a stop has no next landing and
  is dropped, like a contact without toe-off in the gyro kernel.
* **Peak, loading-rate proxy.** Peak ``|acc|`` within ``impact_peak_ms`` of IC, in g, and the mean
  slope of ``|acc|`` from IC to that peak, in g/s (the "acceleration rate" used as a proxy of the
  vertical loading rate of the ground reaction force).
* **Clipping, gaps** as in the gyro kernel: saturated samples between IC and TO flag the step; a
  gap (or a non-finite sample) drops any contact in progress and never bridges a step.

All windows are in samples and the only memory is caller-owned state and ring arrays, so any
chunking of the stream gives the same steps as one call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sensor_service.kernels._acc_params import AccKernelParams
from sensor_service.kernels._params import G0_M_S2

__all__ = [
    "ACC_RING_COLS",
    "ACC_STATE_F",
    "ACC_STATE_I",
    "acc_dropped_steps",
    "acc_process_block",
    "acc_reset_on_flush",
    "acc_reset_on_gap",
    "acc_samples_seen",
]

# --- int state
_N = 0
_STATE = 1  # 0 search, 1 impact candidate being collected
_K1 = 2  # first sample of the candidate
_ALLOWED_FROM = 3
_PEND = 4  # a contact waits for the next landing to find its TO
_PEND_IC_I = 5
_HAVE_PREV = 6  # consecutive samples since start or gap
_DROPPED = 7
ACC_STATE_I = 8
# --- float state
_REF_JERK = 0  # exponential average of landing jerks (0: none yet)
_PEND_IC = 1
_PEND_PEAK_G = 2
_PEND_LR = 3
_PEND_STRIDE_MS = 4
ACC_STATE_F = 5
# --- ring columns
_R_A = 0
_R_JERK = 1
_R_CLIP = 2
_R_AX = 3  # 3..5
ACC_RING_COLS = 6


@njit(cache=True)
def unpack_acc_params(p: np.ndarray) -> AccKernelParams:
    """Rebuild :class:`AccKernelParams` from :func:`~._acc_params.pack_acc_params` output."""
    return AccKernelParams(
        p[0],
        int(p[1]),
        p[2],
        p[3],
        p[4],
        p[5],
        int(p[6]),
        p[7],
        p[8],
        p[9],
        int(p[10]),
        p[11],
        int(p[12]),
        int(p[13]),
        int(p[14]),
        p[15],
        p[16],
        int(p[17]),
        p[18],
        p[19],
        int(p[20]),
    )


@njit(cache=True)
def _finish(
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    stride_n: float,
    out: np.ndarray,
    row: int,
    kp: AccKernelParams,
) -> bool:
    """TO of the pending contact, whose stride (to the next IC) is ``stride_n``; write a row."""
    mask = kp.ring_mask
    ic = st_f[_PEND_IC]
    ic_i = st_i[_PEND_IC_I]
    lo = ic_i + max(kp.min_gct_n, round(kp.to_lo_stride_frac * stride_n))
    hi = ic_i + min(kp.max_gct_n, round(kp.to_hi_stride_frac * stride_n))
    if hi - lo < 2:
        return False
    h = kp.to_smooth_n // 2
    width = 2 * h + 1
    best = -1.0
    k_best = lo
    prev = 0.0
    nxt = 0.0
    vals = np.empty(hi - lo + 1)
    for k in range(lo, hi + 1):
        s = 0.0
        for j in range(k - h, k + h + 1):
            s += ring[j & mask, _R_A]
        vals[k - lo] = s / width
        if vals[k - lo] > best:
            best = vals[k - lo]
            k_best = k
    delta = 0.0
    if lo < k_best < hi:
        prev = vals[k_best - 1 - lo]
        nxt = vals[k_best + 1 - lo]
        denom = prev - 2.0 * best + nxt
        if denom < 0.0:
            delta = min(0.5, max(-0.5, 0.5 * (prev - nxt) / denom))
    to = k_best + delta + kp.to_offset_n
    clipped = 0.0
    for j in range(ic_i, min(math.ceil(to), hi) + 1):
        if ring[j & mask, _R_CLIP] != 0.0:
            clipped = 1.0
            break
    out[row, 0] = ic
    out[row, 1] = to
    out[row, 2] = (to - ic) * 1000.0 * kp.dt_s
    out[row, 3] = st_f[_PEND_STRIDE_MS]
    out[row, 4] = st_f[_PEND_PEAK_G]
    out[row, 5] = np.nan  # no strike angle without a gyroscope
    out[row, 6] = clipped
    out[row, 7] = st_f[_PEND_LR]
    return True


@njit(cache=True)
def _landing(
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    n: int,
    out: np.ndarray,
    row: int,
    kp: AccKernelParams,
) -> int:
    """Judge the impact candidate started at ``_K1`` (now ``n``); returns rows written (0/1)."""
    mask = kp.ring_mask
    j_max = 0.0
    for k in range(st_i[_K1], n + 1):
        j_max = max(j_max, ring[k & mask, _R_JERK])
    st_i[_STATE] = 0
    if j_max < kp.impact_rel_frac * st_f[_REF_JERK]:
        st_i[_ALLOWED_FROM] = n + 1  # a knock, smaller than the recent landings
        return 0
    k1 = st_i[_K1]
    while ring[k1 & mask, _R_JERK] < kp.impact_rise_frac * j_max:
        k1 += 1  # the first change of landing size in the window
    thr_on = kp.onset_rise_frac * ring[k1 & mask, _R_JERK]
    first = k1
    floor = max(st_i[_ALLOWED_FROM], k1 - kp.impact_peak_n)
    while first - 1 > floor and ring[(first - 1) & mask, _R_JERK] >= thr_on:
        first -= 1
    last_pre = first - 1
    peak = 0.0
    k_pk = last_pre
    for k in range(last_pre, min(last_pre + kp.impact_peak_n, n) + 1):
        v = ring[k & mask, _R_A]
        if v > peak:
            peak = v
            k_pk = k
    if peak < kp.impact_min_m_s2:
        st_i[_ALLOWED_FROM] = n + 1
        return 0
    w = kp.impact_track_weight
    st_f[_REF_JERK] = j_max if st_f[_REF_JERK] <= 0.0 else (1 - w) * st_f[_REF_JERK] + w * j_max
    ic = last_pre + kp.onset_offset
    lr = np.nan
    if k_pk > ic:
        lr = (peak - ring[last_pre & mask, _R_A]) / G0_M_S2 / ((k_pk - ic) * kp.dt_s)
    written = 0
    stride_n = -1.0
    if st_i[_PEND]:
        stride_n = ic - st_f[_PEND_IC]
        if stride_n <= kp.max_stride_n and row < out.shape[0]:
            if _finish(ring, st_i, st_f, stride_n, out, row, kp):
                written = 1
        else:
            stride_n = -1.0
    st_f[_PEND_STRIDE_MS] = stride_n * 1000.0 * kp.dt_s if stride_n > 0 else np.nan
    st_i[_PEND] = 1
    st_f[_PEND_IC] = ic
    ic_i = math.floor(ic)
    st_i[_PEND_IC_I] = ic_i
    st_f[_PEND_PEAK_G] = peak / G0_M_S2
    st_f[_PEND_LR] = lr
    refr = kp.min_stride_n
    if stride_n > 0:
        refr = max(refr, round(kp.refractory_stride_frac * stride_n))
    st_i[_ALLOWED_FROM] = max(n + 1, ic_i + refr)
    return written


@njit(cache=True)
def acc_reset_on_gap(st_i: np.ndarray, n_missing: int) -> None:
    """``n_missing`` samples lost: drop the contact in progress (counted), search afresh."""
    if st_i[_PEND] or st_i[_STATE] == 1:
        st_i[_DROPPED] += 1
    st_i[_PEND] = 0
    st_i[_STATE] = 0
    st_i[_HAVE_PREV] = 0
    st_i[_N] += n_missing
    st_i[_ALLOWED_FROM] = st_i[_N]


@njit(cache=True)
def acc_process_block(
    acc: np.ndarray,
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    out: np.ndarray,
    params: np.ndarray,
) -> int:
    """Run the acc-only detector over ``acc`` (n, 3) m/s²; write completed steps to ``out``."""
    kp = unpack_acc_params(params)
    mask = kp.ring_mask
    lag = kp.jerk_lag_n
    n_out = 0
    for i in range(acc.shape[0]):
        n = st_i[_N]
        ax, ay, az = acc[i, 0], acc[i, 1], acc[i, 2]
        a = math.sqrt(ax * ax + ay * ay + az * az)
        if not math.isfinite(a):
            acc_reset_on_gap(st_i, 1)
            continue
        jerk = 0.0
        if st_i[_HAVE_PREV] >= lag:
            old = (n - lag) & mask
            d0 = ax - ring[old, _R_AX]
            d1 = ay - ring[old, _R_AX + 1]
            d2 = az - ring[old, _R_AX + 2]
            jerk = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        st_i[_HAVE_PREV] = min(st_i[_HAVE_PREV] + 1, 1 << 30)
        c = kp.clip_m_s2
        slot = n & mask
        ring[slot, _R_A] = a
        ring[slot, _R_JERK] = jerk
        ring[slot, _R_CLIP] = (
            1.0 if c > 0.0 and (abs(ax) >= c or abs(ay) >= c or abs(az) >= c) else 0.0
        )
        ring[slot, _R_AX] = ax
        ring[slot, _R_AX + 1] = ay
        ring[slot, _R_AX + 2] = az
        if st_i[_PEND] and n - st_i[_PEND_IC_I] > kp.max_stride_n:
            st_i[_PEND] = 0  # no next landing: the last contact before a stop
        if st_i[_STATE] == 0:
            if n >= st_i[_ALLOWED_FROM] and jerk >= kp.impact_min_jerk and st_i[_HAVE_PREV] > lag:
                st_i[_STATE] = 1
                st_i[_K1] = n
        elif n >= st_i[_K1] + 2 * kp.impact_peak_n:
            if n_out < out.shape[0]:
                n_out += _landing(ring, st_i, st_f, n, out, n_out, kp)
            else:
                st_i[_STATE] = 0
        st_i[_N] = n + 1
    return n_out


def acc_reset_on_flush(st_i: np.ndarray) -> None:
    """End of stream: the pending contact has no next landing (standing): no step."""
    st_i[_PEND] = 0
    st_i[_STATE] = 0


def acc_dropped_steps(st_i: np.ndarray) -> int:
    """Steps dropped because a gap overlapped them."""
    return int(st_i[_DROPPED])


def acc_samples_seen(st_i: np.ndarray) -> int:
    """Samples seen since the detector started, gaps included."""
    return int(st_i[_N])
