"""Streaming gait event kernel for a foot-mounted IMU (numba): initial contact and toe-off.

Method
------
One foot, gaitmap foot frame (x to the toe, y to the left, z up; ``gyr_y > 0`` = plantar flexion,
toe going down). Per sample the kernel keeps the pitch velocity ``g = gyr_y``, ``|acc|``, a
landing "jerk" ``|Δ²acc| + w·|Δ²gyr|`` and the integral of ``g`` in a ring buffer, and runs a
four-state machine: WAIT → SWING → IC_WAIT → CONTACT → (SWING ...).

* **Swing.** The pitch velocity of a foot IMU swings strongly toe-up between toe-off and landing
  (Falbriard et al. 2018, Front Physiol 9:610: temporal events are found within a mid-swing to
  mid-swing cycle of the pitch angular velocity; Rampp et al. 2015, IEEE TBME 62:1089, likewise
  segment on the medio-lateral gyro). A swing is ``g < -swing_gyr_deg_s`` held for
  ``min_swing_ms``. Nothing is a step unless a swing precedes it, so standing still at the start
  or end of a run never yields a step.
* **Landing jerk.** The second difference over a lag ``L`` of about ``jerk_lag_ms`` (5 ms) of
  ``L``-sample sums ``S`` (``S[k] = x[k] + … + x[k−L+1]``), divided by ``L``:
  ``|ΔS_acc| + w·|ΔS_gyr|`` with ``ΔS = S[k] − 2·S[k−L] + S[k−2L]``. It is a change of *slope*,
  weighed the same at 100 Hz and at 833 Hz, and the sums average sensor noise over the lag
  (with 4× the model's noise the plain second difference missed 3 of 851 landings). A first
  difference (slope) was used before; it also responds to the foot's smooth deceleration in
  late swing (|acc| falling by ~5 g over the last 50 ms before touchdown), which walked the IC
  onset back by 10–35 ms on weak (midfoot) landings. The second difference of a smooth trend
  is ~1 m/s², that of the impact (a ~45 Hz transient) tens of m/s²: the impact is the first
  abrupt change of the acceleration, the "jerk" IC features of Falbriard et al. 2018 without
  their differentiation noise (a lag of several samples).
* **Initial contact (IC).** After the swing ends (``g`` back above the threshold) the kernel
  looks for the landing in a window from ``ic_before_swing_end_ms`` before the swing end until
  the foot is still (gyro norm small and ``|acc|`` ≈ 1 g, the foot-flat / zero-velocity phase) or
  at most ``ic_after_swing_end_max_ms``. The landing is the *first* sudden change of the IMU
  signals in that window: the impact transient of the accelerometer (foot impacts reach tens of g,
  Bailey & Harle 2014) together with the onset of the foot slap (rearfoot) or heel drop
  (forefoot) in the gyroscope; this is Falbriard et al.'s family of acceleration/jerk IC
  features (their k9–k12) made strike-independent by adding the gyro change. Using the first
  large change rather than the largest keeps later events (end of the foot slap) from being taken;
  it must also stand ``impact_noise_factor`` times above the window's median change (noise), and
  be followed by a peak ``|acc|`` of ``impact_min_g`` (else the next candidate is tried).
  No landing is sought before a toe-up rotation (integral of ``g``) of more than
  ``max_heel_drop_deg``: after touchdown the foot can only rotate toe-up by the heel drop of a
  forefoot strike (strike angle −7.9 ± 2.8°, SCIENCE.md §2), so a change followed by a larger
  toe-up rotation was in the air (a mid-swing knock, or a swing that paused and resumed).
  IC is sub-sample: the rising edge of the jerk, extrapolated linearly from its first two steep
  samples back to the pre-impact level (``onset_extrapolate``; else the middle of the interval in
  which the change starts). At 104 Hz a sample is 9.6 ms, so this matters there.
  Peak ``|acc|`` within ``impact_peak_ms`` of IC is reported in g, and the mean slope of ``|acc|``
  from IC to that peak in g/s as a loading-rate proxy (``loading_rate_g_s``; tibial acceleration
  rate is used the same way as a surrogate of the force loading rate, e.g. Kiernan et al. 2020;
  at the foot it is a proxy only, never a force).
* **Toe-off (TO).** When the next swing is confirmed, TO is the maximum of the plantar-flexion
  pitch velocity between ``IC + min_gct_ms`` and the swing start (Falbriard et al. 2018: the
  extremum of the pitch angular velocity in the second half of the cycle, their t1, was the most
  precise TC feature, 4±2 ms), refined to a sub-sample index by the vertex of a least-squares
  parabola over ±``to_fit_ms`` (5 ms; below 300 Hz the parabola through three samples): with gyro
  noise the 3-point vertex wanders by ~√(2σ/curvature), ±7 ms for 8 deg/s.
  As in Bailey & Harle 2015 (threshold-free TO from a foot IMU, 0.47±3.84 ms at 3.4 m/s), TO needs
  no amplitude threshold; the feature itself is Falbriard's, not theirs. The ``min_gct_ms`` guard
  skips the foot slap after a rearfoot landing; a peak at that guard's edge (a contact shorter
  than ``min_gct_ms``) is no step. A contact longer than ``max_gct_ms`` is standing still:
  dropped, not a step.
* **Strike angle.** Foot pitch at IC minus pitch when standing (Altman & Davis 2012, SCIENCE.md
  §2): the integral of ``g`` from the most recent still-foot sample to IC, negated so toe-up is
  positive (rearfoot > 0, forefoot < 0). NaN without a recent still reference.
* **Clipping.** A step is flagged ``clipped`` when any accelerometer axis reached
  ``clip_frac · clip_limit_m_s2`` between IC and TO (a ±16 g part saturates on running impacts).
* **Gaps.** ``gap`` resets the machine to WAIT: no step spans missing samples; a step that was in
  progress (IC search or contact) is dropped and counted. A non-finite sample (NaN, inf)
  is treated as a one-sample gap.

All windows are in samples, so results do not depend on how the stream is cut into calls: the
kernel's only memory is the state arrays and the ring buffer the caller owns.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sensor_service.kernels._params import G0_M_S2, KernelParams

__all__ = [
    "FEED_STATE_F",
    "FEED_STATE_I",
    "RING_COLS",
    "dropped_steps",
    "process_block",
    "reset_on_flush",
    "reset_on_gap",
    "samples_seen",
]

# --- int state (st_i)
_N = 0  # global index of the next sample
_STATE = 1
_RUN = 2  # swing run length
_STILL_RUN = 3
_S = 4  # swing start
_SE = 5  # swing end
_DEADLINE = 6  # last sample of the IC window
_ALLOWED_FROM = 7  # first sample a swing run may count
_IC_I = 8  # floor(IC)
_HAVE_PREV_IC = 9
_HAVE_REF = 10
_REF_N = 11
_DROPPED = 12
_HAVE_PREV = 13  # consecutive samples since start or gap (the jerk needs jerk_lag_n of them)
_SE_FIRST = 14  # first swing end since the swing started (-1: none yet)
FEED_STATE_I = 15
# --- float state (st_f)
_I_RUN = 0  # running integral of g (deg)
_I_REF = 1  # integral at the last still sample
_IC = 2
_PEAK_G = 3
_FSA = 4
_STRIDE_MS = 5
_PREV_IC = 6
_LR = 7  # loading-rate proxy of the current landing, g/s
FEED_STATE_F = 8
# --- ring columns
_R_G = 0
_R_A = 1
_R_JERK = 2
_R_CLIP = 3
_R_INT = 4
_R_AX = 5  # 5..7: acc x, y, z
_R_GX = 8
_R_GZ = 9
_R_SUM = 10  # 10..15: sums over the last jerk_lag_n samples of acc x, y, z, gyr x, y, z
RING_COLS = 16
# --- machine states
_WAIT = 0
_SWING = 1
_IC_WAIT = 2
_CONTACT = 3


@njit(cache=True)
def unpack_params(p: np.ndarray) -> KernelParams:
    """Rebuild :class:`KernelParams` from :func:`~._params.pack_params` output."""
    return KernelParams(
        p[0],
        p[1],
        int(p[2]),
        int(p[3]),
        int(p[4]),
        p[5],
        p[6],
        int(p[7]),
        p[8],
        int(p[9]),
        p[10],
        p[11],
        p[12],
        p[13],
        int(p[14]),
        int(p[15]),
        int(p[16]),
        p[17],
        int(p[18]),
        int(p[19]),
        p[20],
        int(p[21]),
        int(p[22]),
        p[23],
    )


@njit(cache=True)
def _peak_offset(ring: np.ndarray, k: int, h: int, mask: int) -> float:
    """Vertex offset from ``k`` of the least-squares parabola through ring column _R_G over
    ``k − h … k + h`` (h = 1: the parabola through three samples), within ±max(0.5, h/2)."""
    m2 = h * (h + 1) / 3.0  # mean of j²
    s1 = 0.0
    s2 = 0.0
    d1 = 0.0
    d2 = 0.0
    for j in range(-h, h + 1):
        y = ring[(k + j) & mask, _R_G]
        q = j * j - m2
        s1 += j * y
        s2 += q * y
        d1 += j * j
        d2 += q * q
    b = s1 / d1
    c = s2 / d2
    if c >= 0.0:
        return 0.0
    lim = max(0.5, 0.5 * h)
    return min(lim, max(-lim, -b / (2.0 * c)))


@njit(cache=True)
def _landing_jerk(ring: np.ndarray, n: int, lag: int, gyr_weight: float, mask: int) -> float:
    """|Δ²acc| + w·|Δ²gyr| at sample ``n``: second difference over ``lag`` samples of the
    ``lag``-sample sums in the ring (S[n] − 2·S[n−L] + S[n−2L]), divided by ``lag``."""
    k0 = n & mask
    k1 = (n - lag) & mask
    k2 = (n - 2 * lag) & mask
    d0 = ring[k0, _R_SUM] - 2.0 * ring[k1, _R_SUM] + ring[k2, _R_SUM]
    d1 = ring[k0, _R_SUM + 1] - 2.0 * ring[k1, _R_SUM + 1] + ring[k2, _R_SUM + 1]
    d2 = ring[k0, _R_SUM + 2] - 2.0 * ring[k1, _R_SUM + 2] + ring[k2, _R_SUM + 2]
    e0 = ring[k0, _R_SUM + 3] - 2.0 * ring[k1, _R_SUM + 3] + ring[k2, _R_SUM + 3]
    e1 = ring[k0, _R_SUM + 4] - 2.0 * ring[k1, _R_SUM + 4] + ring[k2, _R_SUM + 4]
    e2 = ring[k0, _R_SUM + 5] - 2.0 * ring[k1, _R_SUM + 5] + ring[k2, _R_SUM + 5]
    return (
        math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) + gyr_weight * math.sqrt(e0 * e0 + e1 * e1 + e2 * e2)
    ) / lag


@njit(cache=True)
def _onset_time(ring: np.ndarray, last_pre: int, n: int, kp: KernelParams) -> float:
    """Sub-sample IC: the rising edge of the landing jerk extrapolated back to the pre-impact
    level (a line through the first two steep samples), within the interval where it starts."""
    mask = kp.ring_mask
    ic = last_pre + kp.onset_offset
    if kp.onset_extrapolate and last_pre + 2 <= n:
        j0 = ring[last_pre & mask, _R_JERK]
        j1 = ring[(last_pre + 1) & mask, _R_JERK]
        j2 = ring[(last_pre + 2) & mask, _R_JERK]
        if j2 > j1 > j0:
            ic = last_pre + 1.0 - min(1.0, (j1 - j0) / (j2 - j1))
    return ic


@njit(cache=True)
def _find_ic(
    ring: np.ndarray, st_i: np.ndarray, st_f: np.ndarray, n: int, kp: KernelParams
) -> bool:
    """Search the IC window ending at sample ``n``; store IC, peak, stride, strike angle."""
    mask = kp.ring_mask
    w0 = max(st_i[_S], st_i[_SE_FIRST] - kp.ic_before_n, n - kp.ic_before_n - kp.ic_after_max_n)
    # No landing before a toe-up rotation of more than max_heel_drop_deg: walking back from n,
    # the last sample after which the pitch still falls by more than that is in the air.
    lowest = ring[n & mask, _R_INT]
    for k in range(n, w0, -1):
        v = ring[k & mask, _R_INT]
        lowest = min(lowest, v)
        if v - lowest > kp.max_heel_drop_deg:
            w0 = k
            break
    if n <= w0:
        return False
    window = np.empty(n - w0)
    for k in range(w0 + 1, n + 1):
        window[k - w0 - 1] = ring[k & mask, _R_JERK]
    j_max = window.max()
    big = max(kp.impact_rise_frac * j_max, kp.impact_noise_factor * np.median(window))
    if j_max <= 0.0 or j_max < big:
        return False
    # Candidates in time order: the first steep change followed by an impact (peak |acc| of at
    # least impact_min_g within impact_peak_ms) is the landing.
    lo = w0
    kk = w0 + 1
    while True:
        while kk <= n and ring[kk & mask, _R_JERK] < big:
            kk += 1
        if kk > n:
            return False
        thr = kp.onset_rise_frac * ring[kk & mask, _R_JERK]
        first = kk
        while first - 1 > lo and ring[(first - 1) & mask, _R_JERK] >= thr:
            first -= 1
        last_pre = first - 1
        peak = 0.0
        k_pk = last_pre
        for k in range(last_pre, min(last_pre + kp.impact_peak_n, n) + 1):
            v = ring[k & mask, _R_A]
            if v > peak:
                peak = v
                k_pk = k
        if peak >= kp.impact_min_m_s2:
            break
        while kk <= n and ring[kk & mask, _R_JERK] >= big:
            kk += 1  # skip this candidate's steep run
        lo = kk - 1
    ic = _onset_time(ring, last_pre, n, kp)
    st_f[_LR] = np.nan
    if k_pk > ic:
        st_f[_LR] = (peak - ring[last_pre & mask, _R_A]) / G0_M_S2 / ((k_pk - ic) * kp.dt_s)
    ic_i = math.floor(ic)
    st_f[_IC] = ic
    st_i[_IC_I] = ic_i
    st_f[_PEAK_G] = peak / G0_M_S2
    st_f[_STRIDE_MS] = (ic - st_f[_PREV_IC]) * 1000.0 * kp.dt_s if st_i[_HAVE_PREV_IC] else np.nan
    st_f[_PREV_IC] = ic
    st_i[_HAVE_PREV_IC] = 1
    fsa = np.nan
    if st_i[_HAVE_REF] and n - st_i[_REF_N] <= kp.max_ref_age_n:
        hi_i = min(ic_i + 1, n)
        i_lo = ring[ic_i & mask, _R_INT]
        i_ic = i_lo + (ic - ic_i) * (ring[hi_i & mask, _R_INT] - i_lo)
        fsa = -(i_ic - st_f[_I_REF])
    st_f[_FSA] = fsa
    st_i[_ALLOWED_FROM] = max(n + 1, ic_i + kp.min_gct_n)
    st_i[_RUN] = 0  # a swing run counts from _ALLOWED_FROM on, not from before it
    return True


@njit(cache=True)
def _emit(
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    n: int,
    s: int,
    out: np.ndarray,
    row: int,
    kp: KernelParams,
) -> bool:
    """Find TO of the current contact (swing confirmed at ``n``, started at ``s``); write a row.

    Returns False (no step) when the push-off peak is not inside the search range: the contact
    was shorter than ``min_gct_ms``, so it was no ground contact of a stride.
    """
    mask = kp.ring_mask
    ic = st_f[_IC]
    ic_i = st_i[_IC_I]
    lo = ic_i + kp.min_gct_n
    k = lo
    best = ring[lo & mask, _R_G]
    for j in range(lo + 1, s + 1):
        v = ring[j & mask, _R_G]
        if v > best:
            best = v
            k = j
    if k == lo:
        return False
    to = k + _peak_offset(ring, k, kp.to_fit_n, mask)
    clipped = 0.0
    for j in range(ic_i, min(math.ceil(to), n) + 1):
        if ring[j & mask, _R_CLIP] != 0.0:
            clipped = 1.0
            break
    out[row, 0] = ic
    out[row, 1] = to
    out[row, 2] = (to - ic) * 1000.0 * kp.dt_s
    out[row, 3] = st_f[_STRIDE_MS]
    out[row, 4] = st_f[_PEAK_G]
    out[row, 5] = st_f[_FSA]
    out[row, 6] = clipped
    out[row, 7] = st_f[_LR]
    return True


@njit(cache=True)
def reset_on_gap(st_i: np.ndarray, n_missing: int) -> None:
    """``n_missing`` samples were lost: drop any step in progress, restart after a swing.

    A gap during an IC search or a contact drops that step and counts it. A gap in mid-swing
    drops nothing when enough swing (``min_swing_ms``) follows it to confirm a new swing; if not,
    the coming landing is lost without being counted.
    """
    if st_i[_STATE] == _IC_WAIT or st_i[_STATE] == _CONTACT:
        st_i[_DROPPED] += 1
    st_i[_STATE] = _WAIT
    st_i[_RUN] = 0
    st_i[_STILL_RUN] = 0
    st_i[_HAVE_PREV_IC] = 0
    st_i[_HAVE_REF] = 0
    st_i[_HAVE_PREV] = 0
    st_i[_N] += n_missing


@njit(cache=True)
def process_block(
    acc: np.ndarray,
    gyr: np.ndarray,
    ring: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    out: np.ndarray,
    params: np.ndarray,
) -> int:
    """Run the detector over ``acc``/``gyr`` (n, 3); write completed steps to ``out``; count.

    ``params`` is :func:`~._params.pack_params` of the :class:`KernelParams`.
    """
    kp = unpack_params(params)
    mask = kp.ring_mask
    m = kp.min_swing_n
    n_out = 0
    for i in range(acc.shape[0]):
        n = st_i[_N]
        ax, ay, az = acc[i, 0], acc[i, 1], acc[i, 2]
        gx, gy, gz = gyr[i, 0], gyr[i, 1], gyr[i, 2]
        a = math.sqrt(ax * ax + ay * ay + az * az)
        w = math.sqrt(gx * gx + gy * gy + gz * gz)
        if not (math.isfinite(a) and math.isfinite(w)):
            reset_on_gap(st_i, 1)  # a NaN / inf sample is a lost sample
            continue
        st_i[_HAVE_PREV] = min(st_i[_HAVE_PREV] + 1, 1 << 30)
        st_f[_I_RUN] = st_f[_I_RUN] + gy * kp.dt_s
        clip = 0.0
        c = kp.clip_m_s2
        if c > 0.0 and (abs(ax) >= c or abs(ay) >= c or abs(az) >= c):
            clip = 1.0
        slot = n & mask
        ring[slot, _R_G] = gy
        ring[slot, _R_A] = a
        ring[slot, _R_CLIP] = clip
        ring[slot, _R_INT] = st_f[_I_RUN]
        ring[slot, _R_AX] = ax
        ring[slot, _R_AX + 1] = ay
        ring[slot, _R_AX + 2] = az
        ring[slot, _R_GX] = gx
        ring[slot, _R_GZ] = gz
        if st_i[_HAVE_PREV] >= kp.jerk_lag_n:  # this sample and L − 1 before it
            s0, s1, s2 = ax, ay, az
            s3, s4, s5 = gx, gy, gz
            for j in range(1, kp.jerk_lag_n):
                kj = (n - j) & mask
                s0 += ring[kj, _R_AX]
                s1 += ring[kj, _R_AX + 1]
                s2 += ring[kj, _R_AX + 2]
                s3 += ring[kj, _R_GX]
                s4 += ring[kj, _R_G]
                s5 += ring[kj, _R_GZ]
            ring[slot, _R_SUM] = s0
            ring[slot, _R_SUM + 1] = s1
            ring[slot, _R_SUM + 2] = s2
            ring[slot, _R_SUM + 3] = s3
            ring[slot, _R_SUM + 4] = s4
            ring[slot, _R_SUM + 5] = s5
        jerk = 0.0
        if st_i[_HAVE_PREV] >= 3 * kp.jerk_lag_n:  # this sample and 3L − 1 before it
            jerk = _landing_jerk(ring, n, kp.jerk_lag_n, kp.impact_gyr_weight, mask)
        ring[slot, _R_JERK] = jerk

        state = st_i[_STATE]
        below = gy < -kp.swing_gyr_deg_s
        if n < st_i[_ALLOWED_FROM] or not below:
            st_i[_RUN] = 0
        else:
            st_i[_RUN] += 1
        if w < kp.still_gyr_deg_s and abs(a - G0_M_S2) < kp.still_acc_m_s2:
            st_i[_STILL_RUN] += 1
        else:
            st_i[_STILL_RUN] = 0
        still_ok = st_i[_STILL_RUN] >= kp.still_n
        if still_ok:
            st_i[_HAVE_REF] = 1
            st_i[_REF_N] = n
            st_f[_I_REF] = st_f[_I_RUN]

        if state == _CONTACT and n > st_i[_IC_I] + kp.max_gct_n:
            state = _WAIT  # standing still after the landing: not a step
            st_i[_HAVE_PREV_IC] = 0
        if st_i[_RUN] == m and state == _IC_WAIT:
            state = _SWING  # the swing only paused: keep its start and first end
        elif st_i[_RUN] == m and state in (_WAIT, _CONTACT):
            s = n - m + 1
            if (
                state == _CONTACT
                and n_out < out.shape[0]
                and _emit(ring, st_i, st_f, n, s, out, n_out, kp)
            ):
                n_out += 1
            st_i[_S] = s
            st_i[_SE_FIRST] = -1
            state = _SWING
        elif state == _SWING:
            if not below:
                st_i[_SE] = n
                if st_i[_SE_FIRST] < 0:
                    st_i[_SE_FIRST] = n
                st_i[_DEADLINE] = n + kp.ic_after_max_n
                state = _IC_WAIT
        elif state == _IC_WAIT and (still_ok or n >= st_i[_DEADLINE]):
            if _find_ic(ring, st_i, st_f, n, kp):
                state = _CONTACT
            else:
                state = _WAIT  # the swing did not end in a landing
                st_i[_HAVE_PREV_IC] = 0
                st_i[_ALLOWED_FROM] = n + 1
                st_i[_RUN] = 0
        st_i[_STATE] = state
        st_i[_N] = n + 1
    return n_out


def reset_on_flush(st_i: np.ndarray) -> None:
    """End of stream: a contact without toe-off is standing still, not a step."""
    st_i[_STATE] = _WAIT
    st_i[_RUN] = 0
    st_i[_HAVE_PREV_IC] = 0


def dropped_steps(st_i: np.ndarray) -> int:
    """Steps dropped because a gap overlapped them."""
    return int(st_i[_DROPPED])


def samples_seen(st_i: np.ndarray) -> int:
    """Samples seen since the detector started, gaps included."""
    return int(st_i[_N])
