"""Offline analysis: the streaming kernel over a recording, one row per ground contact."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from sensor_service.analysis._io import AnalysisError, Recording, load_recording
from sensor_service.analysis._pairing import ContactBalance, contact_balance, pair_feet
from sensor_service.kernels import (
    AccEventParams,
    EventParams,
    MountingError,
    StepDetector,
    classify_strike,
    estimate_mounting,
)
from sensor_service.kernels._strike import FOREFOOT_MAX_DEG, REARFOOT_MIN_DEG
from sensor_service.load import AthleteParams, step_loads

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LOAD_COLUMNS",
    "STEP_COLUMNS",
    "add_loads",
    "analyze",
    "analyze_recording",
    "combine_feet",
]

log = logging.getLogger(__name__)

#: Columns of the step table, in order (load columns only with an athlete).
STEP_COLUMNS: Final = (
    "ic_s",
    "to_s",
    "gct_ms",
    "stride_ms",
    "step_ms",
    "flight_ms",
    "cadence_spm",
    "peak_accel_g",
    "loading_rate_g_s",
    "strike_angle_deg",
    "strike_pattern",
    "clipped",
)
LOAD_COLUMNS: Final = (
    "fz_peak_bw",
    "k_vert_kn_m",
    "k_leg_kn_m",
    "at_force_est_bw",
    "at_impulse_est_bw_s",
    "at_impulse_cum_est_bw_s",
)
_CHUNK: Final = 100_000
_PROGRESS_MIN: Final = 500_000  # samples: below this a progress bar only flickers


def _to_foot_frame(rec: Recording) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """Rotate a foot pod with gyro into the foot frame; say how."""
    acc, gyr = rec.acc_m_s2, rec.gyr_deg_s
    assert gyr is not None
    ok = np.isfinite(acc).all(axis=1) & np.isfinite(gyr).all(axis=1)
    try:
        rot = estimate_mounting(acc[ok], gyr[ok])
        how = "estimated (gravity at rest + principal gyro axis + push-off vote)"
    except MountingError as exc:
        # Running may have no still phase: gravity from the mean specific force, the pitch axis
        # from the gyro, and its sign from which one finds more steps (an impossible sign finds
        # swings in the wrong half of the stride and next to none).
        up = acc[ok].mean(axis=0)
        z = up / np.linalg.norm(up)
        _, vecs = np.linalg.eigh(gyr[ok].T @ gyr[ok])
        y = vecs[:, -1] - (vecs[:, -1] @ z) * z
        y /= np.linalg.norm(y)
        best = None
        for sign in (1.0, -1.0):
            ys = sign * y
            cand = np.vstack([np.cross(ys, z), ys, z])
            det = StepDetector(sampling_rate_hz=rec.sampling_rate_hz)
            n = det.feed(acc @ cand.T, gyr @ cand.T).size
            if best is None or n > best[0]:
                best = (n, cand)
        assert best is not None
        rot = best[1]
        how = f"fallback (gravity = mean acc; pitch sign by step count) after: {exc.reason}"
    return acc @ rot.T, gyr @ rot.T, how


#: Below this rate a sample is ≥ 10 ms and contact times lose their accuracy (docs/accuracy.md:
#: at 104 Hz the p95 error is 8 ms with gyro and 20+ ms for acc only).
_LOW_RATE_HZ: Final = 100.0


def _warnings(rec: Recording, method: str) -> list[str]:
    """What the user should know about how the recording was read (``attrs["warnings"]``)."""
    out = []
    if rec.gyro_empty:
        out.append("columns gx,gy,gz are empty: the acc-only method ran")
    if rec.blank_rows:
        out.append(f"{rec.blank_rows} blank row(s) dropped")
    if rec.sampling_rate_hz < _LOW_RATE_HZ:
        out.append(
            f"{rec.sampling_rate_hz:.0f} Hz is below {_LOW_RATE_HZ:.0f} Hz: contacts are missed "
            f"or invented and contact times are coarse ({method} method; docs/accuracy.md)"
        )
    return out


def analyze_recording(
    rec: Recording,
    *,
    placement: str = "foot",
    athlete: AthleteParams | None = None,
    speed_m_s: float | None = None,
    clip_limit_m_s2: float | None = None,
    params: EventParams | None = None,
    acc_params: AccEventParams | None = None,
    rearfoot_min_deg: float = REARFOOT_MIN_DEG,
    forefoot_max_deg: float = FOREFOOT_MAX_DEG,
    progress: bool = False,
) -> pd.DataFrame:
    """The step table of a loaded :class:`Recording` (see :func:`analyze`)."""
    import pandas as pd

    fs = rec.sampling_rate_hz
    has_gyro = rec.gyr_deg_s is not None and placement == "foot"
    if has_gyro:
        acc, gyr, mounting = _to_foot_frame(rec)
    else:
        acc, gyr = rec.acc_m_s2, None
        mounting = "not needed (acc-only method is orientation-free)"
    det = StepDetector(
        sampling_rate_hz=fs,
        placement=placement,
        has_gyro=has_gyro,
        clip_limit_m_s2=clip_limit_m_s2,
        params=params,
        acc_params=acc_params,
    )
    n = acc.shape[0]
    parts = []
    bar: Any = None
    if progress and n >= _PROGRESS_MIN:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("analysing", total=n)
    try:
        for i in range(0, n, _CHUNK):
            parts.append(
                det.feed(acc[i : i + _CHUNK], None if gyr is None else gyr[i : i + _CHUNK])
            )
            if bar is not None:
                bar.update(task, advance=min(_CHUNK, n - i))
    finally:
        if bar is not None:
            bar.stop()
    parts.append(det.flush())
    steps = np.concatenate(parts)
    ic_s = steps["ic_idx"] / fs
    to_s = steps["to_idx"] / fs
    stride = steps["stride_ms"]
    # One foot only: step and flight time assume the other foot lands mid-stride (symmetric).
    # combine_feet() replaces them with the two feet's actual pairing.
    step_ms = stride / 2.0
    flight = step_ms - steps["gct_ms"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cadence = 60000.0 / step_ms
    pattern = classify_strike(
        steps["strike_angle_deg"],
        rearfoot_min_deg=rearfoot_min_deg,
        forefoot_max_deg=forefoot_max_deg,
    )
    table = pd.DataFrame(
        {
            "ic_s": ic_s,
            "to_s": to_s,
            "gct_ms": steps["gct_ms"],
            "stride_ms": stride,
            "step_ms": step_ms,
            "flight_ms": flight,
            "cadence_spm": cadence,
            "peak_accel_g": steps["peak_accel_g"],
            "loading_rate_g_s": steps["loading_rate_g_s"],
            "strike_angle_deg": steps["strike_angle_deg"],
            "strike_pattern": pattern,
            "clipped": steps["clipped"],
        }
    )
    if athlete is not None:
        add_loads(table, athlete, speed_m_s=speed_m_s)
    table.attrs.update(
        sampling_rate_hz=fs,
        placement=placement,
        method=det.method,
        mounting=mounting,
        resampled=rec.resampled,
        acc_unit=rec.acc_unit,
        gyro_unit=rec.gyro_unit,
        warnings=_warnings(rec, det.method),
        dropped_steps=det.dropped_steps,
        pairing="one foot: step/flight/cadence assume symmetric steps",
    )
    return table


def add_loads(
    table: pd.DataFrame, athlete: AthleteParams, *, speed_m_s: float | None = None
) -> None:
    """Add the load-model estimate columns (:data:`LOAD_COLUMNS`) to a step table in place."""
    loads = step_loads(
        table["gct_ms"].to_numpy(float),
        table["flight_ms"].to_numpy(float),
        table["strike_pattern"].to_numpy(str),
        athlete,
        speed_m_s=np.nan if speed_m_s is None else speed_m_s,
    )
    table["fz_peak_bw"] = loads.fz_peak_bw
    table["k_vert_kn_m"] = loads.k_vert_kn_m
    table["k_leg_kn_m"] = loads.k_leg_kn_m
    table["at_force_est_bw"] = loads.at_force_est_bw
    table["at_impulse_est_bw_s"] = loads.at_impulse_est_bw_s
    table["at_impulse_cum_est_bw_s"] = np.nancumsum(loads.at_impulse_est_bw_s)


def analyze(
    source: Any,
    *,
    sampling_rate_hz: float | None = None,
    placement: str = "foot",
    acc_unit: str = "auto",
    gyro_unit: str = "auto",
    athlete: AthleteParams | None = None,
    speed_m_s: float | None = None,
    clip_limit_m_s2: float | None = None,
    params: EventParams | None = None,
    acc_params: AccEventParams | None = None,
    rearfoot_min_deg: float = REARFOOT_MIN_DEG,
    forefoot_max_deg: float = FOREFOOT_MAX_DEG,
    progress: bool = False,
) -> pd.DataFrame:
    """Step table of one pod's recording: a CSV path or a DataFrame (columns ``ax,ay,az``,
    optional ``gx,gy,gz`` and ``t`` in seconds), axes in any orientation.

    One row per contact with :data:`STEP_COLUMNS` (times in seconds from the first sample), plus
    :data:`LOAD_COLUMNS` when ``athlete`` is given (``k_leg_kn_m`` needs ``speed_m_s``).
    ``placement`` "ankle"/"shank" (or no gyro columns) runs the acc-only method. ``df.attrs``
    says which method ran, how the mounting was found, whether ``t`` was resampled and which
    units were read ("auto": inferred from the data).
    Raises :class:`AnalysisError` (one-line message) for unusable input.
    """
    if placement not in ("foot", "ankle", "shank"):
        raise AnalysisError(f"placement {placement!r} unknown: use foot, ankle or shank")
    rec = load_recording(
        source,
        sampling_rate_hz=sampling_rate_hz,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        use_gyro=placement == "foot",
    )
    return analyze_recording(
        rec,
        placement=placement,
        athlete=athlete,
        speed_m_s=speed_m_s,
        clip_limit_m_s2=clip_limit_m_s2,
        params=params,
        acc_params=acc_params,
        rearfoot_min_deg=rearfoot_min_deg,
        forefoot_max_deg=forefoot_max_deg,
        progress=progress,
    )


def combine_feet(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    athlete: AthleteParams | None = None,
    speed_m_s: float | None = None,
) -> tuple[pd.DataFrame, ContactBalance]:
    """Both feet's step tables (one clock) → one table sorted by IC with a ``side`` column,
    ``step_ms``/``flight_ms``/``cadence_spm`` from the actual pairing, load columns recomputed
    with the paired flight time, and the run's L/R contact-time balance."""
    import pandas as pd

    pl, pr = pair_feet(
        left["ic_s"].to_numpy(float),
        left["to_s"].to_numpy(float),
        right["ic_s"].to_numpy(float),
        right["to_s"].to_numpy(float),
    )
    out = []
    for side, table, paired in (("left", left, pl), ("right", right, pr)):
        t = table.copy()
        t.insert(0, "side", side)
        t["step_ms"] = paired.step_ms
        t["flight_ms"] = paired.flight_ms
        t["cadence_spm"] = paired.cadence_spm
        out.append(t)
    both = pd.concat(out, ignore_index=True).sort_values("ic_s", kind="stable")
    both = both.reset_index(drop=True)
    if athlete is not None:
        add_loads(both, athlete, speed_m_s=speed_m_s)
    balance = contact_balance(left["gct_ms"].to_numpy(float), right["gct_ms"].to_numpy(float))
    both.attrs.update(left.attrs)
    both.attrs["pairing"] = "two feet: step/flight/cadence from the other foot's contacts"
    both.attrs["gct_balance"] = balance._asdict()
    return both, balance
