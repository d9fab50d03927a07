"""Slow, obvious NumPy reference of the gait event detector (batch only, no gaps).

Same algorithm and same numbers as the numba kernel in ``_event_kernel.py``, written from the
other side: per-sample features are whole-array NumPy expressions, and the state machine jumps
from event to event with array searches instead of stepping sample by sample through a ring
buffer. The tests check that both give the same steps; use this file to read the algorithm.
The method and its sources are described in :mod:`sensor_service.kernels._event_kernel`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from sensor_service.kernels._acc_kernel import MIN_STRIDES_REF
from sensor_service.kernels._acc_params import AccEventParams, AccKernelParams, compile_acc_params
from sensor_service.kernels._params import G0_M_S2, EventParams, KernelParams, compile_params
from sensor_service.kernels._steps import N_OUT_COLS, rows_to_steps

__all__ = ["reference_detect_steps", "reference_detect_steps_acc"]


def _run_lengths(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Length of the run of True ending at each sample (0 where False)."""
    idx = np.arange(mask.size)
    last_false = np.maximum.accumulate(np.where(mask, -1, idx))
    return np.where(mask, idx - last_false, 0).astype(np.int64)


def _first_window(below: NDArray[np.bool_], start: int, m: int) -> int:
    """Last sample of the first run of ``m`` True samples starting at or after ``start``; -1."""
    runs = _run_lengths(below[start:])
    hit = np.flatnonzero(runs == m)
    return -1 if hit.size == 0 else start + int(hit[0])


def _landing(
    jerk: NDArray[np.float64], a: NDArray[np.float64], w0: int, w1: int, kp: KernelParams
) -> tuple[int, float, int]:
    """(last sample before the landing impact, peak |acc|, its sample) in ``[w0, w1]``; -1s.

    ``jerk[k]`` is the change into sample k. A candidate is a change of at least
    ``impact_rise_frac`` of the largest one in the window (and ``impact_noise_factor`` × the
    median); walking back from it while the change stays at least ``onset_rise_frac`` of it
    finds the first steep change. Candidates are tried in time order; the first followed by an
    impact (peak |acc| ≥ impact_min within impact_peak_n samples) wins.
    """
    steps = jerk[w0 + 1 : w1 + 1]  # steps[j] = change into sample w0 + j + 1
    if steps.size == 0:
        return -1, -1.0, -1
    j_max = steps.max()
    big = max(kp.impact_rise_frac * j_max, kp.impact_noise_factor * float(np.median(steps)))
    if j_max <= 0.0 or j_max < big:
        return -1, -1.0, -1
    lo, kk = w0, w0 + 1
    while True:
        hits = np.flatnonzero(jerk[kk : w1 + 1] >= big)
        if hits.size == 0:
            return -1, -1.0, -1
        kk += int(hits[0])
        slow = np.flatnonzero(jerk[lo + 1 : kk + 1] < kp.onset_rise_frac * jerk[kk])
        first = lo + 1 if slow.size == 0 else lo + 2 + int(slow[-1])
        last_pre = first - 1
        seg = a[last_pre : min(last_pre + kp.impact_peak_n, w1) + 1]
        peak = float(seg.max())
        if peak >= kp.impact_min_m_s2:
            return last_pre, peak, last_pre + int(np.argmax(seg))
        rest = np.flatnonzero(jerk[kk : w1 + 1] < big)  # skip this candidate's steep run
        if rest.size == 0:
            return -1, -1.0, -1
        kk += int(rest[0])
        lo = kk - 1


def _parabolic_peak(y: NDArray[np.float64], k: int) -> float:
    """Sub-sample offset of the peak at ``k`` from the parabola through k−1, k, k+1."""
    y0, y1, y2 = y[k - 1], y[k], y[k + 1]
    denom = y0 - 2.0 * y1 + y2
    if denom >= 0.0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (y0 - y2) / denom))


def _fit_peak(y: NDArray[np.float64], k: int, h: int) -> float:
    """Vertex offset from ``k`` of the least-squares parabola through ``y[k-h : k+h+1]``."""
    m2 = h * (h + 1) / 3.0
    s1 = s2 = d1 = d2 = 0.0
    for j in range(-h, h + 1):  # the same sums, in the same order, as the kernel
        q = j * j - m2
        s1 += j * y[k + j]
        s2 += q * y[k + j]
        d1 += j * j
        d2 += q * q
    b, c = s1 / d1, s2 / d2
    if c >= 0.0:
        return 0.0
    lim = max(0.5, 0.5 * h)
    return min(lim, max(-lim, -b / (2.0 * c)))


def _push_off(
    g: NDArray[np.float64],
    clip: NDArray[np.bool_],
    ic: float,
    s: int,
    n: int,
    kp: KernelParams,
) -> tuple[float, float, float] | None:
    """(TO, contact time ms, clipped) of the contact from ``ic`` whose swing starts at ``s``
    (seen up to ``n``): the push-off peak of the pitch velocity after ``min_gct``; None when
    the peak is at the range start (a contact shorter than ``min_gct``)."""
    lo = math.floor(ic) + kp.min_gct_n
    k = lo + int(np.argmax(g[lo : s + 1]))
    if k == lo:
        return None
    to = k + _fit_peak(g, k, kp.to_fit_n)
    clipped = bool(np.any(clip[math.floor(ic) : min(math.ceil(to), n) + 1]))
    return to, (to - ic) * 1000.0 * kp.dt_s, float(clipped)


def _pitch_change(gdt: NDArray[np.float64], ref: int, ic: float, n: int) -> float:
    """Pitch change (deg) from sample ``ref`` to the sub-sample ``ic``: the per-sample changes
    summed in order away from ``ref``, plus the fraction of the last interval."""
    ic_i = math.floor(ic)
    total = 0.0
    if ref < ic_i:
        total = float(np.cumsum(gdt[ref + 1 : ic_i + 1])[-1])
    elif ref > ic_i:
        total = float(np.cumsum(-gdt[ic_i + 1 : ref + 1][::-1])[-1])
    hi_i = min(ic_i + 1, n)
    if hi_i > ic_i:
        total += (ic - ic_i) * gdt[hi_i]
    return total


def _detect(
    acc: NDArray[np.float64], gyr: NDArray[np.float64], kp: KernelParams
) -> NDArray[np.float64]:
    dt = kp.dt_s
    n_total = acc.shape[0]
    g = gyr[:, 1]
    a2 = acc[:, 0] * acc[:, 0] + acc[:, 1] * acc[:, 1] + acc[:, 2] * acc[:, 2]
    w2 = gyr[:, 0] * gyr[:, 0] + gyr[:, 1] * gyr[:, 1] + gyr[:, 2] * gyr[:, 2]
    a = np.sqrt(a2)
    # Landing "jerk": second difference over a lag L of L-sample sums S, divided by L
    # (S[k] − 2·S[k−L] + S[k−2L]), of the acc vector plus the weighted one of the gyro vector:
    # blind to the smooth late-swing deceleration, sensor noise averaged over L samples
    lag = kp.jerk_lag_n
    jerk = np.zeros(n_total)
    if n_total >= 3 * lag:
        x = np.concatenate([acc, gyr], axis=1)
        sums = x[lag - 1 :].copy()  # sums[i] = S[i + lag − 1], summed in the kernel's order
        for j in range(1, lag):
            sums += x[lag - 1 - j : n_total - j]
        d = sums[2 * lag :] - 2.0 * sums[lag:-lag] + sums[: -2 * lag]  # at k = 3L − 1 …
        jerk[3 * lag - 1 :] = (
            np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
            + kp.impact_gyr_weight
            * np.sqrt(d[:, 3] * d[:, 3] + d[:, 4] * d[:, 4] + d[:, 5] * d[:, 5])
        ) / lag
    gdt = g * dt  # pitch change per sample, deg (plantar flexion positive)
    if kp.clip_m_s2 > 0:
        clip = np.any(np.abs(acc) >= kp.clip_m_s2, axis=1)
    else:
        clip = np.zeros(n_total, dtype=bool)
    below = g < -kp.swing_gyr_deg_s
    # |gyr| < still_gyr and |a − g| < still_acc, compared squared (as the kernel does)
    still = (w2 < kp.still_gyr2) & (kp.still_acc_lo2 < a2) & (a2 < kp.still_acc_hi2)
    still_ok = _run_lengths(still) >= kp.still_n

    rows: list[list[float]] = []
    m = kp.min_swing_n
    cursor = 0  # first sample a swing run may count
    contact = False
    ic = ic_i = 0.0
    peak_g = fsa = stride_ms = lr = 0.0
    prev_ic = math.nan
    # a swing cut short by the start of the data counts however short (the kernel's rule)
    not_below = np.flatnonzero(~below)
    start_run = int(not_below[0]) if not_below.size else 0
    while True:
        if 0 < start_run < m:
            n_c, s = start_run - 1, 0
            start_run = 0
        else:
            n_c = _first_window(below, cursor, m)
            if n_c < 0:
                break
            s = n_c - m + 1
        if contact and n_c > ic_i + kp.max_gct_n:
            contact = False  # contact timed out earlier: standing still, not a step
            prev_ic = math.nan
        if contact:
            end = _push_off(g, clip, ic, s, n_c, kp)
            if end is not None:
                rows.append([ic, end[0], end[1], stride_ms, peak_g, fsa, end[2], lr])
            contact = False
        # swing until the pitch velocity comes back above the threshold; the IC window then
        # closes on a still foot or at the deadline, unless the swing resumes first (a pause)
        se_first = -1
        sw = n_c
        ended = False
        while True:
            after = np.flatnonzero(~below[sw + 1 :])
            if after.size == 0:
                ended = True
                break
            se = sw + 1 + int(after[0])
            if se_first < 0:
                se_first = se
            deadline = se + kp.ic_after_max_n
            still_hits = np.flatnonzero(still_ok[se + 1 : deadline + 1])
            n_conf = deadline if still_hits.size == 0 else se + 1 + int(still_hits[0])
            resumed = _first_window(below, se + 1, m)
            if 0 <= resumed <= n_conf:
                sw = resumed
                continue
            break
        if ended or n_conf >= n_total:
            break
        w0 = max(s, se_first - kp.ic_before_n, n_conf - kp.ic_before_n - kp.ic_after_max_n)
        # no landing before a toe-up rotation larger than a forefoot strike's heel drop
        # pitch at each sample minus the pitch at n_conf, summed back from n_conf
        seg_int = np.zeros(max(0, n_conf - w0))
        if seg_int.size > 1:
            seg_int[:-1] = np.cumsum(-gdt[w0 + 2 : n_conf + 1][::-1])[::-1]
        if seg_int.size:
            lowest_after = np.minimum.accumulate(seg_int[::-1])[::-1]
            airborne = np.flatnonzero(seg_int - lowest_after > kp.max_heel_drop_deg)
            if airborne.size:
                w0 = w0 + 1 + int(airborne[-1])
        k, peak, k_pk = _landing(jerk, a, w0, n_conf, kp)
        if k < 0:
            prev_ic = math.nan  # no landing: wait for the next swing
            cursor = n_conf + 1
            continue
        ic = k + kp.onset_offset
        if kp.onset_extrapolate and k + 2 <= n_conf:
            j0, j1, j2 = jerk[k], jerk[k + 1], jerk[k + 2]
            if j2 > j1 > j0:  # rising edge extrapolated back to the pre-impact level
                ic = k + 1.0 - min(1.0, (j1 - j0) / (j2 - j1))
        ic_i = math.floor(ic)
        peak_g = peak / G0_M_S2
        lr = (peak - a[k]) / G0_M_S2 / ((k_pk - ic) * dt) if k_pk > ic else math.nan
        stride_ms = (ic - prev_ic) * 1000.0 * dt
        prev_ic = ic
        refs = np.flatnonzero(still_ok[: n_conf + 1])
        fsa = math.nan
        if refs.size and n_conf - int(refs[-1]) <= kp.max_ref_age_n:
            fsa = -_pitch_change(gdt, int(refs[-1]), ic, n_conf)
        contact = True
        cursor = max(n_conf + 1, ic_i + kp.min_gct_n)
    # End of the recording inside a contact: a step when its push-off peak was seen whole (the
    # largest pitch velocity after min_gct reaches swing_gyr, its fit lies inside the data, and
    # the foot turned toe-up after it).
    n_last = n_total - 1
    hi = n_last - kp.to_fit_n
    lo = math.floor(ic) + kp.min_gct_n
    if contact and n_last <= ic_i + kp.max_gct_n and hi > lo:
        k = lo + int(np.argmax(g[lo : hi + 1]))
        turned = bool(np.any(g[k + 1 : n_last + 1] < 0.0))
        if turned and g[k] >= kp.swing_gyr_deg_s:
            end = _push_off(g, clip, ic, hi, n_last, kp)
            if end is not None:
                rows.append([ic, end[0], end[1], stride_ms, peak_g, fsa, end[2], lr])
    return np.asarray(rows, dtype=np.float64).reshape(-1, N_OUT_COLS)


def reference_detect_steps(
    acc_m_s2: NDArray[np.float64],
    gyr_deg_s: NDArray[np.float64],
    *,
    sampling_rate_hz: float,
    params: EventParams | None = None,
    clip_limit_m_s2: float | None = None,
) -> NDArray[np.void]:
    """Steps of one foot-frame recording, as ``detect_steps`` finds them (``STEP_DTYPE``)."""
    kp = compile_params(params or EventParams(), sampling_rate_hz, clip_limit_m_s2)
    acc = np.ascontiguousarray(acc_m_s2, dtype=np.float64)
    gyr = np.ascontiguousarray(gyr_deg_s, dtype=np.float64)
    return rows_to_steps(_detect(acc, gyr, kp))


# --------------------------------------------------------------------------- acc-only detector


def _acc_row(
    smooth: NDArray[np.float64],
    clip: NDArray[np.bool_],
    pend: tuple[float, float, float, float, float, bool],
    lo: int,
    hi: int,
    dt: float,
    kp: AccKernelParams,
) -> list[float]:
    """The step row of the pending contact: TO at the minimum of the smoothed "up"
    acceleration in ``[lo, hi]``, parabola-refined."""
    k = lo + int(np.argmin(smooth[lo : hi + 1]))
    to = k + (_parabolic_peak(-smooth, k) if lo < k < hi else 0.0)  # a minimum
    to += kp.to_offset_n
    clipped = bool(np.any(clip[math.floor(pend[0]) : min(math.ceil(to), hi) + 1]))
    gct = (to - pend[0]) * 1000.0 * dt
    return [pend[0], to, gct, pend[3], pend[1], math.nan, float(clipped), pend[2]]


def _release(
    smooth: NDArray[np.float64],
    clip: NDArray[np.bool_],
    held: tuple[tuple[float, float, float, float, float, bool], float, float],
    dt: float,
    kp: AccKernelParams,
) -> list[list[float]]:
    """The held contact's row (none when its window is too short): the window scales with the
    stride to the landing that completed it, or the median stride before when much longer."""
    pend, s_ref, next_ic = held
    stride_n = next_ic - pend[0]
    s_win = stride_n if s_ref <= 0.0 or stride_n <= 1.5 * s_ref else s_ref
    ic_p = math.floor(pend[0])
    lo = ic_p + max(kp.min_gct_n, round(kp.to_lo_stride_frac * s_win))
    hi = ic_p + min(kp.max_gct_n, round(kp.to_hi_stride_frac * s_win))
    return [_acc_row(smooth, clip, pend, lo, hi, dt, kp)] if hi - lo >= 2 else []


def _acc_detect(acc: NDArray[np.float64], kp: AccKernelParams) -> NDArray[np.float64]:
    """Event-to-event version of :mod:`sensor_service.kernels._acc_kernel` (same numbers)."""
    dt = kp.dt_s
    raw = acc
    if kp.clip_m_s2 > 0:  # saturation is judged on the raw samples
        clip = np.any(np.abs(raw) >= kp.clip_m_s2, axis=1)
    else:
        clip = np.zeros(raw.shape[0], dtype=bool)
    # One-sample glitches replaced (the kernel's despike); the last sample has no successor and
    # is never processed by the streaming kernel, so it is dropped here too.
    acc = raw[:-1].copy()
    if kp.despike and raw.shape[0] >= 3:
        x0, x1, x2 = raw[:-2], raw[1:-1], raw[2:]

        def dist2(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
            d = u - v
            return d[:, 0] ** 2 + d[:, 1] ** 2 + d[:, 2] ** 2  # squared distance

        d01, d12, d02 = dist2(x0, x1), dist2(x1, x2), dist2(x0, x2)
        glitch = np.minimum(d01, d12) > np.maximum(kp.glitch_min_m_s2**2, 4.0 * d02)
        acc[1:][glitch] = x0[glitch]  # replaced by the sample before it
    n_total = acc.shape[0]
    a = np.sqrt(acc[:, 0] * acc[:, 0] + acc[:, 1] * acc[:, 1] + acc[:, 2] * acc[:, 2])
    lag = kp.jerk_lag_n
    jerk = np.zeros(n_total)
    if n_total > 2 * lag:
        d = acc[2 * lag :] - 2.0 * acc[lag:-lag] + acc[: -2 * lag]
        jerk[2 * lag :] = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
    # the pod's mean "up": exponential average of the acc vector (sequential by nature)
    axis = np.empty_like(acc)
    e = np.zeros(3)
    for k in range(n_total):  # running mean, then exponential average
        w = max(kp.axis_weight, 1.0 / (k + 1.0))
        e = e + w * (acc[k] - e)
        axis[k] = e
    norm = np.sqrt(np.sum(axis * axis, axis=1))
    up = np.where(norm > 0, np.sum(acc * axis, axis=1) / np.where(norm > 0, norm, 1.0), a)
    h = kp.to_smooth_n // 2
    smooth = np.convolve(up, np.ones(2 * h + 1) / (2 * h + 1), mode="same")

    rows: list[list[float]] = []
    ref = 0.0
    scan = 2 * lag  # the second difference needs 2 lags of history
    refr_end = 2 * lag
    # pending landing: ic, peak_g, lr, stride_ms, jerk max, first since start
    pend: tuple[float, float, float, float, float, bool] | None = None
    strides: list[float] = []  # the last five strides (samples)
    last_ic = -1.0  # IC of the landing before the pending one
    # a completed contact, (pending tuple, median stride before it, IC of the landing that
    # completed it), held until that landing can no longer be replaced
    held: tuple[tuple[float, float, float, float, float, bool], float, float] | None = None
    while True:
        elig = refr_end
        if pend is not None:
            elig = min(refr_end, math.floor(pend[0]) + kp.min_gct_n)
        start = max(scan, elig)
        hits = np.flatnonzero(jerk[start:] >= kp.impact_min_jerk)
        if hits.size == 0:
            break
        k1 = start + int(hits[0])
        n = k1 + 2 * kp.impact_peak_n  # the sample at which the window is judged
        if n >= n_total:
            break
        if pend is not None and n - math.floor(pend[0]) > kp.max_stride_n:
            pend = None  # its next landing never came: the last contact before a stop
        j_max = float(jerk[k1 : n + 1].max())
        replace = pend is not None and k1 < refr_end
        ratio = 1.0 if pend is not None and pend[5] else kp.replace_jerk_ratio
        if (replace and pend is not None and j_max < ratio * pend[4]) or (
            j_max < kp.impact_rel_frac * ref
        ):
            scan = k1 + 1  # not a landing; one may start later inside the window
            continue
        k1_open = k1
        k1 += int(np.flatnonzero(jerk[k1 : n + 1] >= kp.impact_rise_frac * j_max)[0])
        # onset: walk back while the jerk stays above onset_rise_frac of jerk[k1]
        floor = max(scan, k1 - kp.impact_peak_n)
        back = jerk[floor + 1 : k1][::-1] >= kp.onset_rise_frac * jerk[k1]
        steps_back = int(np.argmin(back)) if not back.all() else back.size
        last_pre = k1 - steps_back - 1
        seg = a[last_pre : min(last_pre + kp.impact_peak_n, n) + 1]
        peak = float(seg.max())
        k_pk = last_pre + int(np.argmax(seg))
        if peak < kp.impact_min_m_s2:
            scan = k1_open + 1
            continue
        w = kp.impact_track_weight
        ref = j_max if ref <= 0.0 else (1 - w) * ref + w * j_max
        ic = last_pre + kp.onset_offset
        lr = (peak - a[last_pre]) / G0_M_S2 / ((k_pk - ic) * dt) if k_pk > ic else math.nan
        if replace and pend is not None:
            if held is not None and held[2] == pend[0]:
                held = (held[0], held[1], ic)  # its stride ends at the real landing
            stride_ms = math.nan
            if last_ic >= 0.0 and not pend[5]:
                corrected = ic - last_ic
                if corrected <= kp.max_stride_n and strides:
                    strides[-1] = corrected  # the stride the false landing ended
                    stride_ms = corrected * 1000.0 * dt
            pend = (ic, peak / G0_M_S2, lr, stride_ms, j_max, pend[5])  # the real landing
        else:
            stride_n = -1.0
            if pend is not None and held is not None:  # its completing landing is final now
                rows += _release(smooth, clip, held, dt, kp)
                held = None
            if pend is not None and pend[5] and pend[4] < kp.first_rel_frac * j_max:
                pass  # a first "landing" much smaller than this one: no landing, no stride
            elif pend is not None and ic - pend[0] > kp.max_stride_n:
                pass  # expired: the last contact before a stop
            elif pend is not None:
                stride_n = ic - pend[0]
                s_ref = float(np.median(strides)) if len(strides) >= MIN_STRIDES_REF else -1.0
                strides = [*strides, stride_n][-5:]
                if pend[4] >= kp.impact_rel_frac * ref:
                    held = (pend, s_ref, ic)  # until this landing can no longer be replaced
            stride_ms = stride_n * 1000.0 * dt if stride_n > 0 else math.nan
            last_ic = pend[0] if pend is not None and stride_n > 0 else -1.0
            pend = (ic, peak / G0_M_S2, lr, stride_ms, j_max, stride_n <= 0)
        refr = kp.min_stride_n
        if strides:
            med = float(np.median(strides))
            refr = max(refr, min(round(kp.refractory_stride_frac * med), kp.max_refractory_n))
        scan = n + 1
        refr_end = max(n + 1, math.floor(ic) + refr)
    # End of the recording: the last contact has no next landing; it is still a contact when
    # its TO window (sized by the median stride) was seen whole, it had not expired, and the
    # "up" acceleration dips there (a foot still planted at the end has no toe-off).
    if held is not None:
        rows += _release(smooth, clip, held, dt, kp)
    last = n_total - 1
    h = kp.to_smooth_n // 2
    if pend is not None and not pend[5] and strides and pend[4] >= kp.impact_rel_frac * ref:
        ic_p = math.floor(pend[0])
        s_ref = float(np.median(strides))
        lo = ic_p + max(kp.min_gct_n, round(kp.to_lo_stride_frac * s_ref))
        hi = ic_p + min(kp.max_gct_n, round(kp.to_hi_stride_frac * s_ref))
        whole = last - ic_p <= kp.max_stride_n and hi + h <= last and hi - lo >= 2
        standing = False  # the recording ends standing: the "contact" was a stop plant
        if last - kp.end_still_n + 1 >= ic_p:
            tail = a[last - kp.end_still_n + 1 : last + 1]
            mean = float(np.cumsum(tail)[-1]) / kp.end_still_n  # summed in order, as the kernel
            var = float(np.cumsum((tail - mean) * (tail - mean))[-1]) / kp.end_still_n
            standing = math.sqrt(var) < kp.end_still_sd_m_s2
        if whole and not standing and smooth[lo : hi + 1].min() < kp.end_to_max_up_m_s2:
            rows.append(_acc_row(smooth, clip, pend, lo, hi, dt, kp))
    return np.asarray(rows, dtype=np.float64).reshape(-1, N_OUT_COLS)


def reference_detect_steps_acc(
    acc_m_s2: NDArray[np.float64],
    *,
    sampling_rate_hz: float,
    params: AccEventParams | None = None,
    clip_limit_m_s2: float | None = None,
) -> NDArray[np.void]:
    """Steps of one accelerometer recording (any orientation), as the acc-only kernel finds them."""
    kp = compile_acc_params(params or AccEventParams(), sampling_rate_hz, clip_limit_m_s2)
    return rows_to_steps(_acc_detect(np.ascontiguousarray(acc_m_s2, dtype=np.float64), kp))
