"""Streaming gait event kernel for a foot-mounted IMU (numba): initial contact and toe-off.

Method
------
One foot, gaitmap foot frame (x to the toe, y to the left, z up; ``gyr_y > 0`` = plantar flexion,
toe going down). The features are the pitch velocity ``g = gyr_y``, ``|acc|``, a landing
"jerk" ``|Δ²acc| + w·|Δ²gyr|`` and the integral of ``g`` (the pitch); a four-state machine
WAIT → SWING → IC_WAIT → CONTACT → (SWING ...) runs over them.

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
kernel's only memory is the state arrays and the ring of raw samples the caller owns.

Speed (``benchmarks/bench_kernel.py``): per sample the kernel only tests the pitch velocity
against the swing threshold and the still-foot condition (squared norms, no square root). These
tests run first, a chunk at a time, as SIMD loops into one flag byte per sample
(``_classify``); the machine then passes a run of equal flags in which only its counters change
in one step (a swing, a moving or a flat foot up to the next deadline: about 6.5 runs a
stride on the simulator), scanning the flags eight at a time. Every
other feature — |acc|, the landing jerk and its sums, the pitch integral, clipping — is computed
from the raw samples only inside the windows that need it (the IC window, the TO search, the
strike-angle integral), in the same order of operations wherever it is computed, so the
streaming path (raw samples copied into the ring) and a whole recording (read in place, no
ring) give identical steps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sensor_service.kernels._params import G0_M_S2, KernelParams
from sensor_service.kernels._workspace import WorkspaceLayout, split_out

__all__ = [
    "FOOT_LAYOUT",
    "dropped_steps",
    "flush_block",
    "process_block",
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
_REF_N = 11  # the most recent still-foot sample (strike-angle reference)
_DROPPED = 12
_SEG = 13  # first sample after the start or the last gap (the jerk needs 3L samples from it)
_SE_FIRST = 14  # first swing end since the swing started (-1: none yet)
FEED_STATE_I = 15
# --- float state (st_f)
_IC = 0
_PEAK_G = 1
_FSA = 2
_STRIDE_MS = 3
_PREV_IC = 4
_LR = 5  # loading-rate proxy of the current landing, g/s
FEED_STATE_F = 6
# --- machine states
_WAIT = 0
_SWING = 1
_IC_WAIT = 2
_CONTACT = 3
# --- workspace (``_workspace``): [st_i | st_f | params | ring of raw acc | ring of raw gyr | out]
N_PARAMS = len(KernelParams._fields)
_RING0 = FEED_STATE_F + N_PARAMS  # float word where the rings start
FOOT_LAYOUT = WorkspaceLayout(FEED_STATE_I, FEED_STATE_F, N_PARAMS, 6)


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
        p[7],
        int(p[8]),
        p[9],
        int(p[10]),
        p[11],
        p[12],
        p[13],
        p[14],
        int(p[15]),
        int(p[16]),
        int(p[17]),
        p[18],
        int(p[19]),
        int(p[20]),
        p[21],
        int(p[22]),
        int(p[23]),
        p[24],
    )


@njit(cache=True)
def _acc_norm(src_a: np.ndarray, r: int) -> float:
    """|acc| of ring/recording row ``r``."""
    ax, ay, az = src_a[r, 0], src_a[r, 1], src_a[r, 2]
    return math.sqrt(ax * ax + ay * ay + az * az)


@njit(cache=True)
def _peak_offset(src_g: np.ndarray, k: int, h: int, mask: int) -> float:
    """Vertex offset from ``k`` of the least-squares parabola through the pitch velocity over
    ``k − h … k + h`` (h = 1: the parabola through three samples), within ±max(0.5, h/2)."""
    m2 = h * (h + 1) / 3.0  # mean of j²
    s1 = 0.0
    s2 = 0.0
    d1 = 0.0
    d2 = 0.0
    for j in range(-h, h + 1):
        y = src_g[(k + j) & mask, 1]
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
def _jerk_window(
    src_a: np.ndarray, src_g: np.ndarray, mask: int, lo: int, hi: int, seg: int, kp: KernelParams
) -> np.ndarray:
    """Landing jerk of samples ``lo … hi`` (index 0 is ``lo``): ``|ΔS_acc| + w·|ΔS_gyr|`` over
    ``L`` with ``ΔS = S[k] − 2·S[k−L] + S[k−2L]``, ``S[k] = x[k] + x[k−1] + … + x[k−L+1]``
    (summed in that order), divided by ``L``; 0 for the first 3L − 1 samples of a segment.

    Channel by channel over contiguous rows of one scratch array (the raw window is copied out
    of the ring into rows 0–5, the sums go to rows 6–11), so the sums and the jerk run as SIMD
    loops; every value is computed with the same operations in the same order as a
    sample-by-sample loop, so the result is identical.
    """
    lag = kp.jerk_lag_n
    first = max(lo, seg + 3 * lag - 1)
    if first > hi:
        return np.zeros(hi - lo + 1)
    x0 = first - 3 * lag + 1  # the oldest raw sample the first jerk reads
    cnt = hi - x0 + 1
    w = np.empty((13, max(cnt, hi - lo + 1)))  # raw x 6 | sums x 6 | jerk from sample lo
    # the raw window: rows x0 & mask … of the ring (at most two pieces), or of the recording
    r0 = x0 & mask
    head = cnt if mask == -1 else min(cnt, mask + 1 - r0)
    _columns(src_a, src_g, r0, head, w, 0)
    _columns(src_a, src_g, 0, cnt - head, w, head)
    # w[6 + c, i] = S of raw sample i + lag − 1 (the first lag − 1 samples have none)
    m = np.uint64(cnt - lag + 1)
    top = np.uint64(lag - 1)
    for c in range(6):
        for i in range(m):
            w[6 + c, i] = w[c, i + top]
        for j in range(1, lag):
            off = np.uint64(lag - 1 - j)
            for i in range(m):
                w[6 + c, i] += w[c, i + off]
    # the jerk of sample first + t reads the sums at t, t + L and t + 2L
    wt = kp.impact_gyr_weight
    ul = np.uint64(lag)
    jerk = w[12]
    for i in range(first - lo):
        jerk[i] = 0.0  # no jerk before 3L samples of the segment
    at = np.uint64(first - lo)
    for t in range(np.uint64(hi - first + 1)):
        i1 = t + ul
        i0 = i1 + ul
        d0 = w[6, i0] - 2.0 * w[6, i1] + w[6, t]
        d1 = w[7, i0] - 2.0 * w[7, i1] + w[7, t]
        d2 = w[8, i0] - 2.0 * w[8, i1] + w[8, t]
        e0 = w[9, i0] - 2.0 * w[9, i1] + w[9, t]
        e1 = w[10, i0] - 2.0 * w[10, i1] + w[10, t]
        e2 = w[11, i0] - 2.0 * w[11, i1] + w[11, t]
        jerk[at + t] = (
            math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) + wt * math.sqrt(e0 * e0 + e1 * e1 + e2 * e2)
        ) / lag
    return jerk[: hi - lo + 1]


@njit(cache=True, inline="always")
def _columns(
    src_a: np.ndarray, src_g: np.ndarray, r0: int, cnt: int, w: np.ndarray, at: int
) -> None:
    """Rows ``r0 … r0 + cnt − 1`` of ``src_a`` / ``src_g`` into ``w[0:6, at …]``, by channel."""
    ur = np.uint64(r0)  # unsigned indices: no negative-index wrap test, so the loop vectorises
    ua = np.uint64(at)
    for i in range(np.uint64(cnt)):
        r = ur + i
        t = ua + i
        w[0, t] = src_a[r, 0]
        w[1, t] = src_a[r, 1]
        w[2, t] = src_a[r, 2]
        w[3, t] = src_g[r, 0]
        w[4, t] = src_g[r, 1]
        w[5, t] = src_g[r, 2]


@njit(cache=True)
def _onset_time(jerk: np.ndarray, lo: int, last_pre: int, n: int, kp: KernelParams) -> float:
    """Sub-sample IC: the rising edge of the landing jerk extrapolated back to the pre-impact
    level (a line through the first two steep samples), within the interval where it starts.
    ``jerk[0]`` is sample ``lo``."""
    ic = last_pre + kp.onset_offset
    if kp.onset_extrapolate and last_pre + 2 <= n:
        j0 = jerk[last_pre - lo]
        j1 = jerk[last_pre + 1 - lo]
        j2 = jerk[last_pre + 2 - lo]
        if j2 > j1 > j0:
            ic = last_pre + 1.0 - min(1.0, (j1 - j0) / (j2 - j1))
    return ic


@njit(cache=True)
def _pitch_change(src_g: np.ndarray, mask: int, ref: int, ic: float, n: int, dt: float) -> float:
    """Integral of the pitch velocity from sample ``ref`` to the sub-sample ``ic`` (deg), summed
    sample by sample away from ``ref``; the fraction of the last interval is linear."""
    ic_i = math.floor(ic)
    total = 0.0
    if ref < ic_i:
        for j in range(ref + 1, ic_i + 1):
            total += src_g[j & mask, 1] * dt
    elif ref > ic_i:
        for j in range(ref, ic_i, -1):
            total -= src_g[j & mask, 1] * dt
    hi_i = min(ic_i + 1, n)
    if hi_i > ic_i:
        total += (ic - ic_i) * (src_g[hi_i & mask, 1] * dt)
    return total


@njit(cache=True)
def _landing_threshold(jerk: np.ndarray, j_max: float, kp: KernelParams) -> float:
    """``max(impact_rise_frac · j_max, impact_noise_factor · median(jerk[1:]))``.

    The median is only taken when it can matter: with ``c`` values whose ``noise · x`` exceeds
    ``A = rise · j_max``, the median's ``noise · median`` exceeds A only if ``c > (N − 1) // 2``
    (multiplication rounds monotonically, and the mean of the two middle values of an even
    count is at most the larger). Exact, and a quiet window needs no sort.
    """
    a = kp.impact_rise_frac * j_max
    nf = kp.impact_noise_factor
    size = jerk.shape[0] - 1
    c = 0
    for i in range(1, size + 1):
        if nf * jerk[i] > a:
            c += 1
    if c <= (size - 1) // 2:
        return a
    return max(a, nf * np.median(jerk[1:]))


@njit(cache=True)
def _find_ic(
    src_a: np.ndarray,
    src_g: np.ndarray,
    mask: int,
    st_i: np.ndarray,
    st_f: np.ndarray,
    n: int,
    kp: KernelParams,
) -> bool:
    """Search the IC window ending at sample ``n``; store IC, peak, stride, strike angle."""
    w0 = max(st_i[_S], st_i[_SE_FIRST] - kp.ic_before_n, n - kp.ic_before_n - kp.ic_after_max_n)
    # No landing before a toe-up rotation of more than max_heel_drop_deg: walking back from n,
    # the last sample after which the pitch still falls by more than that is in the air.
    # ``rel`` is the pitch at k minus the pitch at n (deg), summed back from n.
    rel = 0.0
    lowest = 0.0
    for k in range(n, w0, -1):
        if k < n:
            rel = rel - src_g[(k + 1) & mask, 1] * kp.dt_s
        lowest = min(lowest, rel)
        if rel - lowest > kp.max_heel_drop_deg:
            w0 = k
            break
    if n <= w0:
        return False
    jerk = _jerk_window(src_a, src_g, mask, w0, n, st_i[_SEG], kp)  # jerk[0] is sample w0
    j_max = jerk[1:].max()
    big = _landing_threshold(jerk, j_max, kp)
    if j_max <= 0.0 or j_max < big:
        return False
    # Candidates in time order: the first steep change followed by an impact (peak |acc| of at
    # least impact_min_g within impact_peak_ms) is the landing.
    lo = w0
    kk = w0 + 1
    while True:
        while kk <= n and jerk[kk - w0] < big:
            kk += 1
        if kk > n:
            return False
        thr = kp.onset_rise_frac * jerk[kk - w0]
        first = kk
        while first - 1 > lo and jerk[first - 1 - w0] >= thr:
            first -= 1
        last_pre = first - 1
        peak = 0.0
        k_pk = last_pre
        for k in range(last_pre, min(last_pre + kp.impact_peak_n, n) + 1):
            v = _acc_norm(src_a, k & mask)
            if v > peak:
                peak = v
                k_pk = k
        if peak >= kp.impact_min_m_s2:
            break
        while kk <= n and jerk[kk - w0] >= big:
            kk += 1  # skip this candidate's steep run
        lo = kk - 1
    ic = _onset_time(jerk, w0, last_pre, n, kp)
    st_f[_LR] = np.nan
    if k_pk > ic:
        a_pre = _acc_norm(src_a, last_pre & mask)
        st_f[_LR] = (peak - a_pre) / G0_M_S2 / ((k_pk - ic) * kp.dt_s)
    ic_i = math.floor(ic)
    st_f[_IC] = ic
    st_i[_IC_I] = ic_i
    st_f[_PEAK_G] = peak / G0_M_S2
    st_f[_STRIDE_MS] = (ic - st_f[_PREV_IC]) * 1000.0 * kp.dt_s if st_i[_HAVE_PREV_IC] else np.nan
    st_f[_PREV_IC] = ic
    st_i[_HAVE_PREV_IC] = 1
    fsa = np.nan
    if st_i[_HAVE_REF] and n - st_i[_REF_N] <= kp.max_ref_age_n:
        fsa = -_pitch_change(src_g, mask, st_i[_REF_N], ic, n, kp.dt_s)
    st_f[_FSA] = fsa
    st_i[_ALLOWED_FROM] = max(n + 1, ic_i + kp.min_gct_n)
    st_i[_RUN] = 0  # a swing run counts from _ALLOWED_FROM on, not from before it
    return True


@njit(cache=True)
def _push_off_peak(src_g: np.ndarray, mask: int, lo: int, hi: int) -> int:
    """The sample of the largest pitch velocity in ``lo … hi`` (the first of equals)."""
    k = lo
    best = src_g[lo & mask, 1]
    for j in range(lo + 1, hi + 1):
        v = src_g[j & mask, 1]
        if v > best:
            best = v
            k = j
    return k


@njit(cache=True)
def _emit(
    src_a: np.ndarray,
    src_g: np.ndarray,
    mask: int,
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
    ic = st_f[_IC]
    ic_i = st_i[_IC_I]
    lo = ic_i + kp.min_gct_n
    k = _push_off_peak(src_g, mask, lo, s)
    if k == lo:
        return False
    to = k + _peak_offset(src_g, k, kp.to_fit_n, mask)
    clipped = 0.0
    c = kp.clip_m_s2
    if c > 0.0:
        for j in range(ic_i, min(math.ceil(to), n) + 1):
            r = j & mask
            if abs(src_a[r, 0]) >= c or abs(src_a[r, 1]) >= c or abs(src_a[r, 2]) >= c:
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
    (``st_i`` may be the whole workspace: the int state is its start.)

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
    st_i[_N] += n_missing
    st_i[_SEG] = st_i[_N]


# --- per-sample flags (``_classify``): all a sample's own values are finite, its pitch velocity
# is below −swing_gyr, the foot is still (|gyr| small, |acc| ≈ 1 g)
_FIN = 1
_BELOW = 2
_STILL = 4
_BLOCK = 1024  # samples per SIMD pass of _classify
_CHUNK = 4096  # samples classified ahead of the machine


@njit(cache=True)
def _sq_norms(x: np.ndarray, lo: int, cnt: int, out: np.ndarray) -> None:
    """``out[i]`` = |row lo + i|² (summed x² + y² + z², in that order)."""
    base = np.uint64(lo)  # unsigned index: no negative-index wrap test, so the loop vectorises
    for i in range(cnt):
        k = base + np.uint64(i)
        x0, x1, x2 = x[k, 0], x[k, 1], x[k, 2]
        out[i] = x0 * x0 + x1 * x1 + x2 * x2


@njit(cache=True)
def _sq_norms_y(x: np.ndarray, lo: int, cnt: int, out: np.ndarray, y: np.ndarray) -> None:
    """:func:`_sq_norms`, and ``y[i]`` = the y value of row lo + i."""
    base = np.uint64(lo)
    for i in range(cnt):
        k = base + np.uint64(i)
        x0, x1, x2 = x[k, 0], x[k, 1], x[k, 2]
        out[i] = x0 * x0 + x1 * x1 + x2 * x2
        y[i] = x1


@njit(cache=True)
def _flags(
    a2: np.ndarray, w2: np.ndarray, gy: np.ndarray, cnt: int, kp: KernelParams, codes: np.ndarray
) -> None:
    """``codes[i]`` from the squared norms and the pitch velocity of sample i."""
    thr = -kp.swing_gyr_deg_s
    g2, lo2, hi2 = kp.still_gyr2, kp.still_acc_lo2, kp.still_acc_hi2
    for i in range(np.uint64(cnt)):
        a = a2[i]
        w = w2[i]
        fin = np.int32(a + w < np.inf)  # NaN or inf in any of the six values: not finite
        below = np.int32(gy[i] < thr)
        still = np.int32(w < g2) & np.int32(lo2 < a) & np.int32(a < hi2)
        codes[i] = np.uint8(fin + 2 * below + 4 * still)


@njit(cache=True)
def _classify(
    acc: np.ndarray,
    gyr: np.ndarray,
    first: int,
    count: int,
    kp: KernelParams,
    codes: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """``codes[i]``: the flags of block row ``first + i`` (``_FIN | _BELOW | _STILL``), for
    ``i < count``: the whole per-sample test of the machine, as SIMD loops over blocks (the
    fused loop over the interleaved rows does not vectorise). ``scratch``: (3, ≥ block) floats.
    The same operations as a sample-by-sample test, so the same flags."""
    a2, w2, gy = scratch[0], scratch[1], scratch[2]
    width = scratch.shape[1]
    for lo in range(0, count, width):
        cnt = min(width, count - lo)
        _sq_norms(acc, first + lo, cnt, a2)
        _sq_norms_y(gyr, first + lo, cnt, w2, gy)
        _flags(a2, w2, gy, cnt, kp, codes[lo:])


@njit(cache=True, inline="always")
def _same_until(codes: np.ndarray, words: np.ndarray, i: int, hi: int, c: int) -> int:
    """The first index in ``i … hi − 1`` whose code differs from ``c`` (``hi``: none); eight
    codes at a time through ``words`` (the same bytes as uint64)."""
    while i < hi and i & 7:
        if codes[i] != c:
            return i
        i += 1
    pattern = np.uint64(c) * np.uint64(0x0101010101010101)
    while i + 8 <= hi and words[i >> 3] == pattern:
        i += 8
    while i < hi and codes[i] == c:
        i += 1
    return i


@njit(cache=True)
def _run_machine(
    src_a: np.ndarray,
    src_g: np.ndarray,
    mask: int,
    count: int,
    codes: np.ndarray,
    words: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    out: np.ndarray,
    n_out: int,
    kp: KernelParams,
) -> int:
    """Process the next ``count`` samples (global indices from ``st_i[_N]``, flags in
    ``codes[0 …]``, also seen as uint64 ``words``), read from row ``k & mask`` of ``src_a`` /
    ``src_g`` inside the windows; returns the number of rows in ``out``.

    A run of samples with the same flags in which only the counters change is passed in one
    step (a swing; a flat or a moving foot between the events of a stride, up to the next
    deadline). The per-sample state lives in local variables (written back to ``st_i`` before
    a helper that reads it, and at the end): a loop-carried value in memory costs a
    store-to-load round trip per sample.
    """
    m = kp.min_swing_n
    n = st_i[_N]
    n0 = n
    end = n + count
    state = st_i[_STATE]
    run = st_i[_RUN]
    still_run = st_i[_STILL_RUN]
    allowed_from = st_i[_ALLOWED_FROM]
    have_ref = st_i[_HAVE_REF]
    ref_n = st_i[_REF_N]
    while n < end:
        c = codes[n - n0]
        if state == _SWING and c == _FIN | _BELOW:
            # Through the swing: the swing run only grows past m (a swing sample is below the
            # threshold, so not still) and nothing else happens until the swing ends.
            k = _same_until(codes, words, n - n0, end - n0, c) + n0
            run = min(run + (k - n), 1 << 30)
            still_run = 0
            n = k
            continue
        if state != _SWING and run == 0 and (c == _FIN or c == _FIN | _STILL):
            # No swing sample, none before it either (so no swing run ends here): the swing
            # run stays 0, the still run grows or stays 0, until the next deadline.
            lim = end
            if state == _CONTACT:
                lim = min(lim, st_i[_IC_I] + kp.max_gct_n + 1)
            elif state == _IC_WAIT:
                lim = min(lim, st_i[_DEADLINE])
                if c == _FIN | _STILL:  # the sample where the foot is still long enough
                    lim = min(lim, n + max(0, kp.still_n - 1 - still_run))
            k = _same_until(codes, words, n - n0, lim - n0, c) + n0  # n when lim ≤ n
            if k > n:
                if c == _FIN:
                    still_run = 0
                else:
                    still_run += k - n
                    if still_run >= kp.still_n:
                        have_ref = 1
                        ref_n = k - 1
                n = k
                continue
        if not c & _FIN:  # a NaN / inf sample is a lost sample
            st_i[_N] = n
            st_i[_STATE] = state
            reset_on_gap(st_i, 1)  # (the sample counts as seen: n + 1 next)
            n = st_i[_N]
            state = st_i[_STATE]
            run = st_i[_RUN]
            still_run = st_i[_STILL_RUN]
            have_ref = st_i[_HAVE_REF]
            continue
        below = c & _BELOW != 0
        prev_run = run
        # branch-free counters (the conditions flip within a stride: branches would mispredict)
        run = (min(run, 1 << 30) + 1) * int(below and n >= allowed_from)
        still_run = (still_run + 1) * int(c & _STILL != 0)
        still_ok = still_run >= kp.still_n
        if still_ok:
            have_ref = 1
            ref_n = n

        if state == _CONTACT and n > st_i[_IC_I] + kp.max_gct_n:
            state = _WAIT  # standing still after the landing: not a step
            st_i[_HAVE_PREV_IC] = 0
        if run == m and state == _IC_WAIT:
            state = _SWING  # the swing only paused: keep its start and first end
        elif run == m and state in (_WAIT, _CONTACT):
            s = n - m + 1
            if (
                state == _CONTACT
                and n_out < out.shape[0]
                and _emit(src_a, src_g, mask, st_i, st_f, n, s, out, n_out, kp)
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
        elif state == _WAIT and not below and 0 < prev_run < m and n - prev_run == st_i[_SEG]:
            # a swing cut short by the start of the data (or a gap): it counts, however short,
            # so the landing that ends it is not lost (a recording that starts in mid-run)
            st_i[_S] = st_i[_SEG]
            st_i[_SE] = n
            st_i[_SE_FIRST] = n
            st_i[_DEADLINE] = n + kp.ic_after_max_n
            state = _IC_WAIT
        elif state == _IC_WAIT and (still_ok or n >= st_i[_DEADLINE]):
            st_i[_HAVE_REF] = have_ref
            st_i[_REF_N] = ref_n
            st_i[_RUN] = run
            if _find_ic(src_a, src_g, mask, st_i, st_f, n, kp):
                state = _CONTACT
                allowed_from = st_i[_ALLOWED_FROM]
                run = st_i[_RUN]
            else:
                state = _WAIT  # the swing did not end in a landing
                st_i[_HAVE_PREV_IC] = 0
                allowed_from = n + 1
                run = 0
        n += 1
    st_i[_N] = n
    st_i[_STATE] = state
    st_i[_RUN] = run
    st_i[_STILL_RUN] = still_run
    st_i[_ALLOWED_FROM] = allowed_from
    st_i[_HAVE_REF] = have_ref
    st_i[_REF_N] = ref_n
    return n_out


@njit(cache=True)
def _carve(
    ws: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, KernelParams, np.ndarray, np.ndarray, np.ndarray]:
    """The views of the workspace: st_i, st_f, params, ring of acc, ring of gyr, out rows."""
    f = ws[FEED_STATE_I:].view(np.float64)
    kp = unpack_params(f[FEED_STATE_F:_RING0])
    size = kp.ring_mask + 1
    ring_a = f[_RING0 : _RING0 + 3 * size].reshape((size, 3))
    ring_g = f[_RING0 + 3 * size : _RING0 + 6 * size].reshape((size, 3))
    return ws[:FEED_STATE_I], f[:FEED_STATE_F], kp, ring_a, ring_g, split_out(f, _RING0 + 6 * size)


@njit(cache=True)
def process_block(acc: np.ndarray, gyr: np.ndarray, ws: np.ndarray) -> int:
    """Run the detector over ``acc``/``gyr`` (n, 3); write completed steps to the out rows of
    the workspace ``ws`` (:data:`FOOT_LAYOUT`); returns their count.

    The block is classified (``_classify``) a chunk ahead of the machine. The first block a
    detector sees is read in place (no look-back before it exists); any later block is copied
    into the rings of raw samples in chunks of at most half a ring (the look-back the kernel
    needs is at most the other half) and read from there. Either way the same samples give the
    same steps. The rings end up holding the newest samples.
    """
    st_i, st_f, kp, ring_a, ring_g, out = _carve(ws)
    mask = kp.ring_mask
    size = mask + 1
    total = acc.shape[0]
    codes = np.empty((min(total, _CHUNK) + 7) & ~7, np.uint8)  # a whole number of words
    words = codes.view(np.uint64)
    scratch = np.empty((3, min(total, _BLOCK)))
    in_place = st_i[_N] == 0
    chunk = _CHUNK if in_place else min(size >> 1, _CHUNK)
    n_out = 0
    done = 0
    while done < total:
        todo = min(chunk, total - done)
        _classify(acc, gyr, done, todo, kp, codes, scratch)
        if in_place:
            n_out = _run_machine(acc, gyr, -1, todo, codes, words, st_i, st_f, out, n_out, kp)
        else:
            _to_ring(acc, gyr, done, todo, st_i[_N], ring_a, ring_g, mask)
            n_out = _run_machine(
                ring_a, ring_g, mask, todo, codes, words, st_i, st_f, out, n_out, kp
            )
        done += todo
    if in_place:
        keep = min(total, size)  # the newest samples, for the look-back of the next block
        _to_ring(acc, gyr, total - keep, keep, total - keep, ring_a, ring_g, mask)
    return n_out


@njit(cache=True)
def _to_ring(
    acc: np.ndarray,
    gyr: np.ndarray,
    first: int,
    count: int,
    n0: int,
    ring_a: np.ndarray,
    ring_g: np.ndarray,
    mask: int,
) -> None:
    """Copy rows ``first … first + count − 1`` of the block, global samples from ``n0``."""
    for i in range(count):
        r = (n0 + i) & mask
        for c in range(3):
            ring_a[r, c] = acc[first + i, c]
            ring_g[r, c] = gyr[first + i, c]


@njit(cache=True)
def flush_block(ws: np.ndarray) -> int:
    """End of stream; returns the rows written to the out rows of ``ws`` (0 or 1).

    A contact is completed when the next swing is confirmed (``min_swing_ms`` below
    −swing_gyr). A recording that ends in mid-run may stop after the push-off but before that:
    the contact is still a step when its push-off peak was seen whole — the largest pitch
    velocity after ``min_gct`` reaches swing_gyr (a push-off, not noise of a flat foot), the
    fit around it lies inside the data, and the foot turned toe-up after it (a negative pitch
    velocity). A contact without that (the foot still on the ground) is standing still, not a
    step.
    """
    st_i, st_f, kp, ring_a, ring_g, out = _carve(ws)
    mask = kp.ring_mask
    n_out = 0
    n = st_i[_N] - 1
    hi = n - kp.to_fit_n  # the TO fit reads to_fit_n samples past the peak
    lo = st_i[_IC_I] + kp.min_gct_n
    if st_i[_STATE] == _CONTACT and hi > lo and out.shape[0] > 0:
        k = _push_off_peak(ring_g, mask, lo, hi)
        turned = False
        for j in range(k + 1, n + 1):
            if ring_g[j & mask, 1] < 0.0:
                turned = True
                break
        if (
            turned
            and ring_g[k & mask, 1] >= kp.swing_gyr_deg_s
            and _emit(ring_a, ring_g, mask, st_i, st_f, n, hi, out, 0, kp)
        ):
            n_out = 1
    st_i[_STATE] = _WAIT
    st_i[_RUN] = 0
    st_i[_HAVE_PREV_IC] = 0
    return n_out


def dropped_steps(st_i: np.ndarray) -> int:
    """Steps dropped because a gap overlapped them."""
    return int(st_i[_DROPPED])


def samples_seen(st_i: np.ndarray) -> int:
    """Samples seen since the detector started, gaps included."""
    return int(st_i[_N])
