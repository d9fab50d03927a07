"""Streaming accelerometer-only gait event kernel (numba): ankle, shank, or a foot pod without gyro.

Method
------
Orientation-free: ``|acc|``, the change of the acc vector and the acceleration along the pod's own
mean acceleration direction are used, so the pod may be strapped in any orientation and no
mounting estimate is needed.

* **Landing jerk.** The second difference ``|acc[k] − 2·acc[k − L] + acc[k − 2L]|`` over
  ``jerk_lag_ms``: an impact is impulsive, while the large but smooth accelerations of the swing
  (a shank swinging back after toe-off reaches several g) nearly cancel in a second difference,
  where a first difference would pass them for landings.
* **Initial contact (IC).** The impact transient is the sharpest change of the acceleration in a
  running stride, at the foot (Bailey & Harle 2014: foot impacts reach tens of g) and at the distal
  tibia (Aubol et al. 2020, as implemented by Kiernan et al. 2023: IC from the resultant
  acceleration and its jerk; Mercer et al. 2003 / Purcell et al. 2006: IC at the start of the
  tibial shock). A jerk of ``impact_min_jerk_g`` after the refractory period of the previous
  landing opens a window of ``2·impact_peak_ms``. The refractory period is ``min_stride_ms`` or
  ``refractory_stride_frac`` of the median of the last five strides, at most ``max_refractory_ms``
  (one missed landing cannot double it, and if several did, the next real landing still falls
  outside it: the detector cannot lock onto every other stride). The other foot's impact,
  transmitted through the body, arrives inside it, half a stride later. The window's largest jerk
  must reach ``impact_rel_frac`` of the recent landings' (an exponential average): a knock in swing
  is smaller than a landing. The landing starts at the first change of at least
  ``impact_rise_frac`` of that largest one (as in the gyro kernel); walking back while the jerk
  stays above ``onset_rise_frac`` of it gives the last pre-impact sample, and IC lies half a sample
  after it. The landing must reach ``impact_min_g`` within ``impact_peak_ms``. A rejected window is
  rescanned from the sample after its trigger, so a landing that starts inside it is not lost.
  Inside the refractory period (but at least ``min_gct_ms`` after the pending landing) a window
  whose jerk is ``replace_jerk_ratio`` times the pending landing's *replaces* it: the detector
  cannot stay locked onto the wrong event of the stride (a toe-off or a knock taken first, as
  happened on the real walking sample), because the landing is the stride's largest impulsive
  event; while the pending landing is the first since a start or gap (no rhythm known yet) any
  larger impact replaces it. When a contact is completed (at the next landing) its landing is
  judged again against the average, and the first landing after a start or gap must reach
  ``first_rel_frac`` of the next one: this drops a "landing" that was a push-off from standing.
* **Toe-off (TO).** The hard part without a gyroscope. At push-off the foot rolls over the ball and
  plantar-flexes fastest at TO (Falbriard et al. 2018: the plantar-flexion peak of the foot's pitch
  velocity marks TO within 4±2 ms), so its angular acceleration is near zero there. A point above
  the ball (the ankle joint, the distal shank, a dorsal foot pod) then moves on a circle about the
  ball, which lies mostly *below* it: its acceleration is the centripetal ``ω²·r`` pointing down,
  and the specific force along "up" drops to ``g − ω²·r`` (often below zero) as the ground stops
  supporting the leg. TO is the minimum of the acceleration along the pod's mean "up" direction
  (the running mean of the acc vector, then an exponential average over ``axis_tau_s``: over whole
  strides the kinematic acceleration averages to zero, so the mean specific force is gravity; no
  mounting estimate or standing calibration is needed), smoothed over ``to_smooth_ms`` and
  parabola-refined. This is the published shank-accelerometer feature: Mercer et al. 2003 take TO
  at the minimum of the axial tibial acceleration after its second (push-off) peak, Schmidt et al.
  2016 at the minimum of the vertical shank acceleration near toe-off (both as implemented by
  Kiernan et al. 2023, REID_IMU). The search window ``[IC + max(min_gct, lo·stride), IC +
  min(max_gct, hi·stride)]`` scales with the stride this contact starts, keeping the impact ringing
  and the next swing out (running duty factors 0.2–0.4). ``to_offset_ms`` is a calibration offset
  (default 0: uncalibrated). Because the window needs the stride, a contact is complete when the
  next landing of the same foot is found, and it is emitted when that landing can no longer be
  replaced by a larger impact (the end of its refractory period, or the landing after it, a gap
  or the end of the stream): a sharp swing event taken for a landing and then replaced would
  otherwise size the window with a stride that was never run (about 1.7 strides of latency). At
  the end of the stream (``acc_flush``) the last contact is emitted when its window, sized by
  the median stride, was seen whole, its "up" acceleration dips, and the recording does not end
  standing (a recording cut in mid-run); the last landing before a stop (a foot that stays
  planted) is dropped, like a contact without toe-off in the gyro kernel.
* **Peak, loading-rate proxy.** Peak ``|acc|`` within ``impact_peak_ms`` of IC, in g, and the mean
  slope of ``|acc|`` from IC to that peak, in g/s (the "acceleration rate" used as a proxy of the
  vertical loading rate of the ground reaction force).
* **Outliers.** A sample that lies far from both of its neighbours (more than ``glitch_min_g``
  and twice their own distance) while they agree is a one-sample glitch (a corrupted packet, an
  ESD spike) and is replaced by the sample before it (``despike``), so it cannot pass for an
  impact; an impact caught on its steep edge has neighbours that disagree and is kept. Distances
  do not depend on the axes, so this stays orientation-free. It delays every feature by one
  sample; the indices reported are those of the samples themselves.
* **Clipping, gaps** as in the gyro kernel (saturation judged on the raw samples): saturated
  samples between IC and TO flag the step; a gap (or a non-finite sample) drops any contact in
  progress and never bridges a step.

All windows are in samples and the only memory is the caller-owned workspace (state and ring),
so any chunking of the stream gives the same steps as one call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sensor_service.kernels._acc_params import AccKernelParams
from sensor_service.kernels._params import G0_M_S2
from sensor_service.kernels._workspace import WorkspaceLayout, split_out

__all__ = [
    "ACC_LAYOUT",
    "acc_dropped_steps",
    "acc_flush",
    "acc_gap",
    "acc_process_block",
    "acc_reset_on_gap",
    "acc_samples_seen",
]

# --- int state
_N = 0
_STATE = 1  # 0 search, 1 impact candidate being collected
_K1 = 2  # first sample of the candidate
_SCAN_FROM = 3  # first sample that may open a landing window
_PEND = 4  # a contact waits for the next landing to find its TO
_PEND_IC_I = 5
_SEG_K = 6  # first feature sample after the start or the last gap
_DROPPED = 7
_HAVE_AXIS = 8  # samples in the mean "up" so far
_N_STRIDES = 9  # strides in the history (at most N_STRIDE_HIST)
_STRIDE_POS = 10  # next slot of the history
_RAW_RUN = 11  # consecutive raw samples since the start or a gap
_REFR_END = 12  # end of the refractory period after the pending landing
_HELD = 13  # 1: a completed contact waits until the landing that completed it is final
_H_IC_I = 14
ACC_STATE_I = 15
# --- float state
_REF_JERK = 0  # exponential average of landing jerks (0: none yet)
_PEND_IC = 1
_PEND_PEAK_G = 2
_PEND_LR = 3
_PEND_STRIDE_MS = 4
_AXIS = 5  # 5..7: exponential average of the acc vector (the pod's mean "up")
_PEND_JMAX = 8  # the pending landing's largest jerk
_PEND_FIRST = 9  # 1.0: the pending landing is the first since the start or a gap
_STRIDES = 10  # 10..14: the last strides (samples), for a median robust to a missed landing
N_STRIDE_HIST = 5
#: A stride is judged "much longer than the recent ones" only against at least this many.
MIN_STRIDES_REF = 3
_RAW1 = _STRIDES + N_STRIDE_HIST  # the last raw sample (3 values)
_RAW2 = _RAW1 + 3  # the raw sample before it (3 values)
_LAST_IC = _RAW2 + 3  # IC of the landing before the pending one (-1: none)
_H_IC = _LAST_IC + 1  # the held contact: IC, peak, loading rate, stride ending at it (ms),
_H_PEAK_G = _H_IC + 1  # the median stride before it (samples) and the IC of the landing
_H_LR = _H_IC + 2  # that completed it (corrected when that landing is replaced)
_H_STRIDE_MS = _H_IC + 3
_H_SREF = _H_IC + 4
_H_NEXT_IC = _H_IC + 5
ACC_STATE_F = _H_NEXT_IC + 1
# --- ring columns, per feature sample: the despiked acc vector (|acc| is taken from it inside
# the windows that need it, with the operations the reference uses), the squared landing jerk
# (its square root only inside windows), the acceleration along the mean "up", and the
# clipping flag of the raw sample (only written with a clip limit)
_R_D = 0  # 0..2
_R_J2 = 3
_R_UP = 4
_R_CLIP = 5
ACC_RING_COLS = 6
# --- workspace (``_workspace``): [st_i | st_f | params | ring | out rows]
N_ACC_PARAMS = len(AccKernelParams._fields)
_RING0 = ACC_STATE_F + N_ACC_PARAMS  # float word where the ring starts
ACC_LAYOUT = WorkspaceLayout(ACC_STATE_I, ACC_STATE_F, N_ACC_PARAMS, ACC_RING_COLS)


@njit(cache=True)
def _carve(
    ws: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, AccKernelParams, np.ndarray, np.ndarray]:
    """The views of the workspace: st_i, st_f, params, ring, out rows."""
    f = ws[ACC_STATE_I:].view(np.float64)
    kp = unpack_acc_params(f[ACC_STATE_F:_RING0])
    size = kp.ring_mask + 1
    ring = f[_RING0 : _RING0 + ACC_RING_COLS * size].reshape((size, ACC_RING_COLS))
    return ws[:ACC_STATE_I], f[:ACC_STATE_F], kp, ring, split_out(f, _RING0 + ACC_RING_COLS * size)


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
        p[6],
        p[7],
        int(p[8]),
        p[9],
        p[10],
        p[11],
        int(p[12]),
        p[13],
        int(p[14]),
        int(p[15]),
        int(p[16]),
        int(p[17]),
        p[18],
        p[19],
        int(p[20]),
        p[21],
        p[22],
        p[23],
        int(p[24]),
        int(p[25]),
        p[26],
        p[27],
        p[28],
        int(p[29]),
    )


@njit(cache=True, inline="always")
def _acc_at(ring: np.ndarray, r: int) -> float:
    """|acc| of the despiked sample in ring row ``r``."""
    ax, ay, az = ring[r, _R_D], ring[r, _R_D + 1], ring[r, _R_D + 2]
    return math.sqrt(ax * ax + ay * ay + az * az)


@njit(cache=True, inline="always")
def _jerk2(ring: np.ndarray, k: int, lag: int, mask: int) -> float:
    """Squared landing jerk of feature sample ``k`` (needs samples ``k − 2·lag … k``)."""
    r, mid, old = k & mask, (k - lag) & mask, (k - 2 * lag) & mask
    e0 = ring[r, _R_D] - 2.0 * ring[mid, _R_D] + ring[old, _R_D]
    e1 = ring[r, _R_D + 1] - 2.0 * ring[mid, _R_D + 1] + ring[old, _R_D + 1]
    e2 = ring[r, _R_D + 2] - 2.0 * ring[mid, _R_D + 2] + ring[old, _R_D + 2]
    return e0 * e0 + e1 * e1 + e2 * e2


@njit(cache=True, inline="always")
def _jerk_at(ring: np.ndarray, k: int, kp: AccKernelParams) -> float:
    """Landing jerk of feature sample ``k`` (0 for the first 2·lag of a segment)."""
    return math.sqrt(ring[k & kp.ring_mask, _R_J2])


@njit(cache=True)
def _finish(
    ring: np.ndarray,
    ic: float,
    peak_g: float,
    lr: float,
    stride_ms: float,
    stride_n: float,
    out: np.ndarray,
    row: int,
    kp: AccKernelParams,
    max_up: float,
) -> bool:
    """TO of the contact from ``ic``, whose window is sized by ``stride_n``; write its row,
    unless the smoothed "up" acceleration at TO is not below ``max_up`` (no toe-off dip)."""
    mask = kp.ring_mask
    ic_i = math.floor(ic)
    lo = ic_i + max(kp.min_gct_n, round(kp.to_lo_stride_frac * stride_n))
    hi = ic_i + min(kp.max_gct_n, round(kp.to_hi_stride_frac * stride_n))
    if hi - lo < 2:
        return False
    h = kp.to_smooth_n // 2
    width = 2 * h + 1
    best = np.inf
    k_best = lo
    vals = np.empty(hi - lo + 1)
    for k in range(lo, hi + 1):
        s = 0.0
        for j in range(k - h, k + h + 1):
            s += ring[j & mask, _R_UP]
        vals[k - lo] = s / width
        if vals[k - lo] < best:
            best = vals[k - lo]
            k_best = k
    if not best < max_up:
        return False
    delta = 0.0
    if lo < k_best < hi:
        prev = vals[k_best - 1 - lo]
        nxt = vals[k_best + 1 - lo]
        denom = prev - 2.0 * best + nxt
        if denom > 0.0:
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
    out[row, 3] = stride_ms
    out[row, 4] = peak_g
    out[row, 5] = np.nan  # no strike angle without a gyroscope
    out[row, 6] = clipped
    out[row, 7] = lr
    return True


@njit(cache=True)
def _release(
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    out: np.ndarray,
    row: int,
    kp: AccKernelParams,
) -> int:
    """Write the held contact (rows written: 0 or 1) now that the landing that completed it
    can no longer be replaced: its TO window scales with the stride to that landing, or with
    the median stride before it when that stride is much longer (a landing missed in it)."""
    if not st_i[_HELD]:
        return 0
    st_i[_HELD] = 0
    stride_n = st_f[_H_NEXT_IC] - st_f[_H_IC]
    s_ref = st_f[_H_SREF]
    s_win = stride_n if s_ref <= 0.0 or stride_n <= 1.5 * s_ref else s_ref
    if row < out.shape[0] and _finish(
        ring,
        st_f[_H_IC],
        st_f[_H_PEAK_G],
        st_f[_H_LR],
        st_f[_H_STRIDE_MS],
        s_win,
        out,
        row,
        kp,
        np.inf,
    ):
        return 1
    return 0


@njit(cache=True)
def _stride_median(st_i: np.ndarray, st_f: np.ndarray) -> float:
    """Median of the recent strides (samples); -1 when there are none. (At most five values:
    ranked in place, no sorted copy, which cost more than the rest of a landing.)"""
    m = st_i[_N_STRIDES]
    if m == 0:
        return -1.0
    if m % 2 == 1:
        return _stride_rank(st_f, m, m // 2)
    return (_stride_rank(st_f, m, m // 2 - 1) + _stride_rank(st_f, m, m // 2)) / 2.0


@njit(cache=True)
def _stride_rank(st_f: np.ndarray, m: int, j: int) -> float:
    """The ``j``-th smallest (from 0) of the ``m`` recent strides."""
    for i in range(m):
        v = st_f[_STRIDES + i]
        below = 0
        at_most = 0
        for t in range(m):
            x = st_f[_STRIDES + t]
            below += x < v
            at_most += x <= v
        if below <= j < at_most:
            return v
    return np.nan  # not reached: strides are finite


@njit(cache=True, inline="always")
def _eligible_from(st_i: np.ndarray, kp: AccKernelParams) -> int:
    """First sample that may open a landing window: after the refractory period, or, while a
    landing is pending, from ``min_gct_ms`` after it (a much larger impact then replaces it)."""
    start = st_i[_REFR_END]
    if st_i[_PEND]:
        start = min(start, st_i[_PEND_IC_I] + kp.min_gct_n)
    return max(st_i[_SCAN_FROM], start)


@njit(cache=True)
def _rescan(ring: np.ndarray, st_i: np.ndarray, n: int, kp: AccKernelParams) -> None:
    """The window opened at ``_K1`` held no landing: look for the next trigger after ``_K1``
    among the samples already seen (a landing may start inside the rejected window)."""
    st_i[_SCAN_FROM] = st_i[_K1] + 1
    for k in range(max(st_i[_K1] + 1, _eligible_from(st_i, kp)), n + 1):
        if _jerk_at(ring, k, kp) >= kp.impact_min_jerk:
            st_i[_K1] = k
            st_i[_STATE] = 1
            return
    st_i[_SCAN_FROM] = n + 1


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
    k1 = st_i[_K1]
    jerk = np.empty(n - k1 + 1)  # jerk[i] is sample k1 + i
    j_max = 0.0
    for k in range(k1, n + 1):
        jerk[k - k1] = _jerk_at(ring, k, kp)
        j_max = max(j_max, jerk[k - k1])
    st_i[_STATE] = 0
    replace = st_i[_PEND] == 1 and st_i[_K1] < st_i[_REFR_END]
    ratio = 1.0 if st_f[_PEND_FIRST] != 0.0 else kp.replace_jerk_ratio
    if replace and j_max < ratio * st_f[_PEND_JMAX]:
        _rescan(ring, st_i, n, kp)  # inside the refractory period and not much larger
        return 0
    if j_max < kp.impact_rel_frac * st_f[_REF_JERK]:
        _rescan(ring, st_i, n, kp)  # a knock, smaller than the recent landings
        return 0
    k_up = k1
    while jerk[k_up - k1] < kp.impact_rise_frac * j_max:
        k_up += 1  # the first change of landing size in the window
    thr_on = kp.onset_rise_frac * jerk[k_up - k1]
    first = k_up
    floor = max(st_i[_SCAN_FROM], k_up - kp.impact_peak_n)
    while first - 1 > floor and _jerk_at(ring, first - 1, kp) >= thr_on:
        first -= 1
    last_pre = first - 1
    peak = 0.0
    k_pk = last_pre
    for k in range(last_pre, min(last_pre + kp.impact_peak_n, n) + 1):
        v = _acc_at(ring, k & mask)
        if v > peak:
            peak = v
            k_pk = k
    if peak < kp.impact_min_m_s2:
        _rescan(ring, st_i, n, kp)
        return 0
    w = kp.impact_track_weight
    st_f[_REF_JERK] = j_max if st_f[_REF_JERK] <= 0.0 else (1 - w) * st_f[_REF_JERK] + w * j_max
    ic = last_pre + kp.onset_offset
    lr = np.nan
    if k_pk > ic:
        lr = (peak - _acc_at(ring, last_pre & mask)) / G0_M_S2 / ((k_pk - ic) * kp.dt_s)
    written = 0
    stride_n = -1.0
    first = st_f[_PEND_FIRST]
    if replace:
        # The pending "landing" was something else (a toe-off, a knock): this much larger
        # impact, at least min_gct_ms later, takes its place. Nothing is emitted for it, and
        # the stride it ended is corrected in the history.
        st_f[_PEND_STRIDE_MS] = np.nan
        if st_i[_HELD] and st_f[_H_NEXT_IC] == st_f[_PEND_IC]:
            st_f[_H_NEXT_IC] = ic  # the held contact's stride ends at the real landing
        if st_f[_LAST_IC] >= 0.0 and st_f[_PEND_FIRST] == 0.0:
            corrected = ic - st_f[_LAST_IC]
            if corrected <= kp.max_stride_n and st_i[_N_STRIDES] > 0:
                last = (st_i[_STRIDE_POS] - 1) % N_STRIDE_HIST
                st_f[_STRIDES + last] = corrected
                st_f[_PEND_STRIDE_MS] = corrected * 1000.0 * kp.dt_s
    elif st_i[_PEND]:
        # the landing that completed the held contact is final now
        written = _release(ring, st_i, st_f, out, row, kp)
        stride_n = ic - st_f[_PEND_IC]
        if stride_n > kp.max_stride_n:
            stride_n = -1.0
        elif st_f[_PEND_FIRST] != 0.0 and st_f[_PEND_JMAX] < kp.first_rel_frac * j_max:
            # Judged again now that a later landing is known: the first "landing" after a start
            # (a push-off from standing) is much smaller than the real ones that follow. It was
            # no landing: no step, no stride, and this landing is the first one.
            stride_n = -1.0
        else:
            # The pending contact is complete, but this landing may still be replaced by a
            # larger impact in its refractory period (then the stride that sizes the TO window
            # changes): it is held until then (_release).
            if st_f[_PEND_JMAX] >= kp.impact_rel_frac * st_f[_REF_JERK]:
                st_i[_HELD] = 1
                st_f[_H_IC] = st_f[_PEND_IC]
                st_f[_H_PEAK_G] = st_f[_PEND_PEAK_G]
                st_f[_H_LR] = st_f[_PEND_LR]
                st_f[_H_STRIDE_MS] = st_f[_PEND_STRIDE_MS]
                # the recent strides, once there are enough of them to tell a long one
                st_f[_H_SREF] = (
                    _stride_median(st_i, st_f) if st_i[_N_STRIDES] >= MIN_STRIDES_REF else -1.0
                )
                st_f[_H_NEXT_IC] = ic
            st_f[_STRIDES + st_i[_STRIDE_POS]] = stride_n
            st_i[_STRIDE_POS] = (st_i[_STRIDE_POS] + 1) % N_STRIDE_HIST
            st_i[_N_STRIDES] = min(st_i[_N_STRIDES] + 1, N_STRIDE_HIST)
    if not replace:
        st_f[_PEND_STRIDE_MS] = stride_n * 1000.0 * kp.dt_s if stride_n > 0 else np.nan
        first = 1.0 if stride_n <= 0 else 0.0
        st_f[_LAST_IC] = st_f[_PEND_IC] if stride_n > 0 else -1.0
    st_i[_PEND] = 1
    st_f[_PEND_IC] = ic
    ic_i = math.floor(ic)
    st_i[_PEND_IC_I] = ic_i
    st_f[_PEND_PEAK_G] = peak / G0_M_S2
    st_f[_PEND_LR] = lr
    st_f[_PEND_JMAX] = j_max
    st_f[_PEND_FIRST] = first
    refr = kp.min_stride_n
    s_med = _stride_median(st_i, st_f)
    if s_med > 0.0:
        refr = max(refr, min(round(kp.refractory_stride_frac * s_med), kp.max_refractory_n))
    st_i[_SCAN_FROM] = n + 1
    st_i[_REFR_END] = max(n + 1, ic_i + refr)
    return written


@njit(cache=True)
def acc_gap(ws: np.ndarray, n_missing: int) -> int:
    """``n_missing`` samples lost: write the held contact (complete, its next landing final
    now) to the out rows of ``ws``, then reset (:func:`acc_reset_on_gap`); returns the rows
    written (0 or 1)."""
    st_i, st_f, kp, ring, out = _carve(ws)
    n_out = _release(ring, st_i, st_f, out, 0, kp)
    acc_reset_on_gap(st_i, n_missing)
    return n_out


@njit(cache=True)
def acc_reset_on_gap(st_i: np.ndarray, n_missing: int) -> None:
    """``n_missing`` samples lost: drop the contact in progress (counted), search afresh."""
    if st_i[_PEND] or st_i[_STATE] == 1:
        st_i[_DROPPED] += 1
    st_i[_PEND] = 0
    st_i[_STATE] = 0
    st_i[_N] += n_missing
    st_i[_SEG_K] = st_i[_N]  # the next feature sample starts a segment: no jerk across the gap
    # (the mean "up" runs on across a gap: the strap did not move)
    st_i[_SCAN_FROM] = st_i[_N]
    st_i[_REFR_END] = st_i[_N]
    st_i[_N_STRIDES] = 0  # the runner may have stopped: stride history starts afresh
    st_i[_STRIDE_POS] = 0
    st_i[_RAW_RUN] = 0  # the raw sample before the gap is never processed
    # (st_f[_LAST_IC] is only read while a non-first landing is pending: no reset needed)


@njit(cache=True)
def _next_event(st_i: np.ndarray, kp: AccKernelParams) -> tuple[int, int]:
    """The first feature sample at which the machine must look (a held contact due, a pending
    one expired, a candidate window complete), and the first that may open a window."""
    never = 1 << 62
    ev = never
    if st_i[_HELD]:
        ev = min(ev, st_i[_REFR_END] + 2 * kp.impact_peak_n)
    if st_i[_PEND]:
        ev = min(ev, st_i[_PEND_IC_I] + kp.max_stride_n + 1)
    if st_i[_STATE] == 1:
        return min(ev, st_i[_K1] + 2 * kp.impact_peak_n), never
    return ev, _eligible_from(st_i, kp)


@njit(cache=True)
def _event(
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    k: int,
    jerk: float,
    out: np.ndarray,
    n_out: int,
    kp: AccKernelParams,
) -> int:
    """The machine at feature sample ``k`` (landing jerk ``jerk``); returns the rows in ``out``."""
    if st_i[_HELD] and k >= st_i[_REFR_END] + 2 * kp.impact_peak_n:
        # every window that could replace the pending landing has been judged
        n_out += _release(ring, st_i, st_f, out, n_out, kp)
    if st_i[_PEND] and k - st_i[_PEND_IC_I] > kp.max_stride_n:
        st_i[_PEND] = 0  # no next landing: the last contact before a stop
    if st_i[_STATE] == 0:
        if (
            jerk >= kp.impact_min_jerk
            and k - st_i[_SEG_K] >= 2 * kp.jerk_lag_n
            and k >= st_i[_SCAN_FROM]
            and (
                k >= st_i[_REFR_END] or (st_i[_PEND] == 1 and k >= st_i[_PEND_IC_I] + kp.min_gct_n)
            )
        ):
            st_i[_STATE] = 1
            st_i[_K1] = k
    else:
        # judge every window that is complete (a rescan may open one that already is)
        while st_i[_STATE] == 1 and k >= st_i[_K1] + 2 * kp.impact_peak_n:
            if n_out < out.shape[0]:
                n_out += _landing(ring, st_i, st_f, k, out, n_out, kp)
            else:
                st_i[_STATE] = 0
    return n_out


@njit(cache=True, inline="always")
def _store_locals(
    st_i: np.ndarray,
    st_f: np.ndarray,
    n: int,
    raw_run: int,
    ha: int,
    ux: float,
    uy: float,
    uz: float,
) -> None:
    """Write the per-sample loop's local state back (before the machine reads it)."""
    st_i[_N], st_i[_RAW_RUN], st_i[_HAVE_AXIS] = n, raw_run, ha
    st_f[_AXIS], st_f[_AXIS + 1], st_f[_AXIS + 2] = ux, uy, uz


@njit(cache=True)
def acc_process_block(acc: np.ndarray, ws: np.ndarray) -> int:
    """Run the acc-only detector over ``acc`` (n, 3) m/s²; write completed steps to the out
    rows of the workspace ``ws`` (:data:`ACC_LAYOUT`); returns their count.

    Per sample only the despike test, the squared landing jerk (tested against the trigger
    without a square root), the mean "up" and the acceleration along it, stored in the ring;
    the machine runs only at a sample where it can act (:func:`_next_event`, or a jerk that may
    open a window). The per-sample state lives in local variables, written back before the
    machine runs and at the end.
    """
    st_i, st_f, kp, ring, out = _carve(ws)
    mask = kp.ring_mask
    lag = kp.jerk_lag_n
    c = kp.clip_m_s2  # saturation is judged on the raw samples
    mj2 = kp.glitch_min_m_s2 * kp.glitch_min_m_s2
    # No jerk below this reaches impact_min_jerk (the machine tests the jerk itself).
    thr2 = kp.impact_min_jerk * kp.impact_min_jerk * (1.0 - 1e-9)
    n_out = 0
    n = st_i[_N]  # index of the next raw sample
    raw_run = st_i[_RAW_RUN]
    seg_k = st_i[_SEG_K]
    ha = st_i[_HAVE_AXIS]
    p0, p1, p2 = st_f[_RAW1], st_f[_RAW1 + 1], st_f[_RAW1 + 2]
    q0, q1, q2 = st_f[_RAW2], st_f[_RAW2 + 1], st_f[_RAW2 + 2]
    ux, uy, uz = st_f[_AXIS], st_f[_AXIS + 1], st_f[_AXIS + 2]
    d_qp = (q0 - p0) ** 2 + (q1 - p1) ** 2 + (q2 - p2) ** 2
    ev, elig = _next_event(st_i, kp)
    for i in range(acc.shape[0]):
        rx, ry, rz = acc[i, 0], acc[i, 1], acc[i, 2]
        if not math.isfinite(rx * rx + ry * ry + rz * rz):
            _store_locals(st_i, st_f, n, raw_run, ha, ux, uy, uz)
            n_out += _release(ring, st_i, st_f, out, n_out, kp)
            acc_reset_on_gap(st_i, 1)
            n, raw_run, seg_k = st_i[_N], 0, st_i[_SEG_K]
            ev, elig = _next_event(st_i, kp)
            continue
        if c > 0.0:  # without a clip limit the column stays 0
            clip = abs(rx) >= c or abs(ry) >= c or abs(rz) >= c
            ring[n & mask, _R_CLIP] = 1.0 if clip else 0.0
        run = raw_run
        raw_run = min(run + 1, 1 << 30)
        n += 1
        if run == 0:  # first sample after the start or a gap: its feature needs the next one
            p0, p1, p2 = rx, ry, rz
            continue
        # The feature sample is k = n - 2 (the raw sample before this one), checked against its
        # neighbours: a one-sample glitch must not look like an impact. It is one when it lies
        # far (more than glitch_min and twice the neighbours' own distance) from both
        # neighbours, which agree; an impact sampled on its steep edge has neighbours that
        # disagree, so it is kept. Squared distances, which do not depend on the axes; the one
        # to the sample before is carried over from the last sample, the neighbours' own only
        # computed when both others are long.
        d_pr = (p0 - rx) ** 2 + (p1 - ry) ** 2 + (p2 - rz) ** 2
        ax, ay, az = p0, p1, p2
        if run >= 2 and kp.despike:
            near = min(d_qp, d_pr)
            if near > mj2:
                d_qr = (q0 - rx) ** 2 + (q1 - ry) ** 2 + (q2 - rz) ** 2
                if near > max(mj2, 4.0 * d_qr):
                    ax, ay, az = q0, q1, q2  # replaced by the sample before it
        q0, q1, q2 = p0, p1, p2
        p0, p1, p2 = rx, ry, rz
        d_qp = d_pr
        k = n - 2
        slot = k & mask
        ring[slot, _R_D] = ax
        ring[slot, _R_D + 1] = ay
        ring[slot, _R_D + 2] = az
        j2 = 0.0
        if k - seg_k >= 2 * lag:
            j2 = _jerk2(ring, k, lag, mask)
        ring[slot, _R_J2] = j2
        # running mean of the first samples, then an exponential average (weight 1/(k+1)
        # until it falls to axis_weight): converges within a stride even when the recording
        # starts mid-run, then follows slow changes of the strap
        w = kp.axis_weight
        if ha * w < 2.0:  # beyond this 1/(k+1) < w: no division per sample
            w = max(w, 1.0 / (ha + 1.0))
        ux += w * (ax - ux)
        uy += w * (ay - uy)
        uz += w * (az - uz)
        ha = min(ha + 1, 1 << 30)
        norm = math.sqrt(ux * ux + uy * uy + uz * uz)
        if norm > 0.0:
            ring[slot, _R_UP] = (ax * ux + ay * uy + az * uz) / norm
        else:
            ring[slot, _R_UP] = math.sqrt(ax * ax + ay * ay + az * az)
        if k >= ev or (j2 >= thr2 and k >= elig):
            _store_locals(st_i, st_f, n, raw_run, ha, ux, uy, uz)
            n_out = _event(ring, st_i, st_f, k, math.sqrt(j2), out, n_out, kp)
            ev, elig = _next_event(st_i, kp)
    _store_locals(st_i, st_f, n, raw_run, ha, ux, uy, uz)
    st_f[_RAW1], st_f[_RAW1 + 1], st_f[_RAW1 + 2] = p0, p1, p2
    st_f[_RAW2], st_f[_RAW2 + 1], st_f[_RAW2 + 2] = q0, q1, q2
    return n_out


@njit(cache=True)
def _ends_standing(ring: np.ndarray, last: int, first_valid: int, kp: AccKernelParams) -> bool:
    """Does the recording end standing: |acc| over its last ``end_still_n`` feature samples
    (``… last``, none before ``first_valid``) with a standard deviation below
    ``end_still_sd``? Mean and variance summed in order (the reference does the same)."""
    lo = last - kp.end_still_n + 1
    if lo < first_valid:
        return False
    total = 0.0
    for k in range(lo, last + 1):
        total += _acc_at(ring, k & kp.ring_mask)
    mean = total / kp.end_still_n
    var = 0.0
    for k in range(lo, last + 1):
        d = _acc_at(ring, k & kp.ring_mask) - mean
        var += d * d
    return math.sqrt(var / kp.end_still_n) < kp.end_still_sd_m_s2


@njit(cache=True)
def acc_flush(ws: np.ndarray) -> int:
    """End of stream: emit the pending contact if its TO window was seen whole (to the out rows
    of ``ws``); then reset.

    A contact is normally completed by the next landing of the same foot (its TO window scales
    with that stride). A recording cut in mid-run has no next landing for its last contact: it
    is still a contact when the window (sized by the median of the recent strides), smoothing
    included, lies inside the samples seen, it is not the only landing since the start or a
    gap, the "up" acceleration dips at its TO below ``end_to_max_up_g``, and the recording does
    not end standing (a foot still planted at the end — the runner stopped — has no toe-off).
    Otherwise it is dropped, as is a contact followed by more than ``max_stride_ms`` without a
    landing (standing).
    """
    st_i, st_f, kp, ring, out = _carve(ws)
    n_out = _release(ring, st_i, st_f, out, 0, kp)
    if st_i[_PEND] and st_f[_PEND_FIRST] == 0.0 and st_i[_N_STRIDES] > 0 and out.shape[0] > n_out:
        s_ref = _stride_median(st_i, st_f)
        ic_i = st_i[_PEND_IC_I]
        hi = ic_i + min(kp.max_gct_n, round(kp.to_hi_stride_frac * s_ref))
        last = st_i[_N] - 2  # the newest feature sample (features lag the raw samples by one)
        if (
            hi + kp.to_smooth_n // 2 <= last
            and st_f[_PEND_JMAX] >= kp.impact_rel_frac * st_f[_REF_JERK]
            and not _ends_standing(ring, last, ic_i, kp)
            and _finish(
                ring,
                st_f[_PEND_IC],
                st_f[_PEND_PEAK_G],
                st_f[_PEND_LR],
                st_f[_PEND_STRIDE_MS],
                s_ref,
                out,
                n_out,
                kp,
                kp.end_to_max_up_m_s2,
            )
        ):
            n_out += 1
    st_i[_PEND] = 0
    st_i[_STATE] = 0
    return n_out


def acc_dropped_steps(st_i: np.ndarray) -> int:
    """Steps dropped because a gap overlapped them."""
    return int(st_i[_DROPPED])


def acc_samples_seen(st_i: np.ndarray) -> int:
    """Samples seen since the detector started, gaps included."""
    return int(st_i[_N])
