"""Reading a recording (CSV or DataFrame) into SI arrays on a uniform clock."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import FootpodError
from sensor_service.kernels._params import G0_M_S2

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ACC_UNITS", "GYRO_UNITS", "AnalysisError", "Recording", "load_recording"]

#: "auto" (the default) infers the unit from the data: see :func:`_resolve_units`.
ACC_UNITS: Final = ("auto", "m/s2", "g")
GYRO_UNITS: Final = ("auto", "deg/s", "rad/s")
#: Median |acc| of gait (walking ~1 g, running ankle up to ~3 g) lies within these bounds (g).
_MEDIAN_ACC_G: Final = (0.5, 6.0)
#: During gait (|acc| 99th percentile above 2 g) a foot or shank gyro peaks at hundreds of deg/s
#: (5–20 rad/s): a 99th percentile below this many is in rad/s.
_GAIT_GYRO_MIN_DEG_S: Final = 50.0
_MIN_SECONDS: Final = 3.0
#: A time step longer than this many nominal periods is a gap (missing samples).
_GAP_PERIODS: Final = 2.5


class AnalysisError(FootpodError, ValueError):
    """A recording cannot be analysed; the message says what to fix (one line)."""


@dataclass(frozen=True, slots=True)
class Recording:
    """Samples on a uniform clock: NaN rows are missing samples (gaps)."""

    acc_m_s2: NDArray[np.float64]
    gyr_deg_s: NDArray[np.float64] | None
    sampling_rate_hz: float
    resampled: bool  # the t column was jittery or had gaps: linear interpolation on a grid
    acc_unit: str = "m/s2"  # the unit of the input file (inferred when "auto" was asked)
    gyro_unit: str | None = None  # likewise; None without gyro
    blank_rows: int = 0  # rows without any value (blank lines) dropped from a file with t
    gyro_empty: bool = False  # gx,gy,gz were present but empty: read as acc only


def _read(source: Any) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise AnalysisError(
            "offline analysis needs pandas: pip install 'footpod[analysis]'"
        ) from exc
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise AnalysisError(f"{path}: cannot read as CSV with a header row ({exc})") from exc


#: Other names of the time column (seconds).
_TIME_ALIASES: Final = ("time", "time_s", "t_s")


def _column_key(name: object) -> str:
    """Header name as matched: case and spaces ignored, a trailing unit in brackets dropped
    (``"AX [g]"`` → ``ax``), ``time``/``time_s``/``t_s`` read as ``t``."""
    key = re.sub(r"\s*[\[(].*[\])]\s*$", "", str(name)).strip().lower()
    return "t" if key in _TIME_ALIASES else key


def _column(df: pd.DataFrame, name: str) -> NDArray[np.float64]:
    try:
        values = np.asarray(df[name], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise AnalysisError(f"column {name!r} has non-numeric values") from exc
    return values


def load_recording(
    source: Any,
    *,
    sampling_rate_hz: float | None = None,
    acc_unit: str = "auto",
    gyro_unit: str = "auto",
    use_gyro: bool = True,
) -> Recording:
    """Read ``ax,ay,az`` (+ optional ``gx,gy,gz``, ``t`` in s) and convert to m/s², deg/s.

    Units "auto" are inferred from the data (:func:`_resolve_units`); a unit given explicitly
    is checked against the data and a mismatch is an error.

    With ``t`` the rate is estimated from it (:func:`_rate_from_t`; ``sampling_rate_hz`` may be
    omitted, and must agree within 5 % if given); a gappy or drifting ``t`` is resampled on a
    uniform grid, leaving NaN (a gap the detector never bridges) where samples are missing.
    Blank rows are dropped and counted (``blank_rows``); empty gyro columns are read as no gyro.
    """
    if acc_unit not in ACC_UNITS:
        raise AnalysisError(f"acc unit {acc_unit!r} unknown: use one of {ACC_UNITS}")
    if gyro_unit not in GYRO_UNITS:
        raise AnalysisError(f"gyro unit {gyro_unit!r} unknown: use one of {GYRO_UNITS}")
    df = _read(source)
    keys = [_column_key(c) for c in df.columns]
    twice = sorted(
        {k for k in keys if keys.count(k) > 1 and k in ("t", "ax", "ay", "az", "gx", "gy", "gz")}
    )
    if twice:
        raise AnalysisError(f"more than one column reads as {', '.join(twice)}: keep one of each")
    df = df.set_axis(keys, axis=1)
    missing = [c for c in ("ax", "ay", "az") if c not in df.columns]
    if missing:
        raise AnalysisError(
            f"missing column(s) {', '.join(missing)}: the CSV needs a header with ax,ay,az "
            f"(optional gx,gy,gz and t); found {', '.join(map(str, df.columns))}"
        )
    blank_rows = 0
    if "t" in df.columns:
        # A row with nothing in it (a blank CSV line) cannot be placed in time and carries no
        # sample: it is dropped and counted. A sample without its time is an error.
        blank = df.isna().all(axis=1).to_numpy()
        blank_rows = int(blank.sum())
        if blank_rows:
            df = df.loc[~blank]
    acc = np.column_stack([_column(df, c) for c in ("ax", "ay", "az")])
    gyr = None
    gyro_cols = [c for c in ("gx", "gy", "gz") if c in df.columns]
    if gyro_cols and len(gyro_cols) < 3:
        raise AnalysisError(f"gyro needs all of gx,gy,gz; found only {','.join(gyro_cols)}")
    gyro_empty = False
    if gyro_cols and use_gyro:
        gyr = np.column_stack([_column(df, c) for c in gyro_cols])
        if not np.isfinite(gyr).any():
            gyr = None  # gx,gy,gz present but empty (gyro off in the logger): acc only
            gyro_empty = True
    acc_unit, gyro_unit = _resolve_units(acc, gyr, acc_unit, gyro_unit)
    if acc_unit == "g":
        acc = acc * G0_M_S2
    if gyr is not None and gyro_unit == "rad/s":
        gyr = np.rad2deg(gyr)

    fs = sampling_rate_hz
    resampled = False
    if "t" in df.columns:
        t = _column(df, "t")
        if not np.all(np.isfinite(t)):
            raise AnalysisError("column 't' has empty or non-numeric values in rows with data")
        fs, uniform, quantum_s = _rate_from_t(t, fs)
        if not uniform:
            acc, gyr = _resample(t - t[0], acc, gyr, fs, quantum_s)
            resampled = True
    if fs is None:
        raise AnalysisError("no sampling rate: pass --fs HZ or give a 't' column in seconds")
    if not (math.isfinite(fs) and 20.0 <= fs <= 10000.0):
        raise AnalysisError(f"sampling rate {fs:g} Hz is outside 20..10000 Hz")
    if acc.shape[0] < _MIN_SECONDS * fs:
        raise AnalysisError(
            f"recording too short: {acc.shape[0] / fs:.1f} s, need at least {_MIN_SECONDS:g} s"
        )
    return Recording(
        np.ascontiguousarray(acc),
        gyr,
        float(fs),
        resampled,
        acc_unit=acc_unit,
        gyro_unit=None if gyr is None else gyro_unit,
        blank_rows=blank_rows,
        gyro_empty=gyro_empty,
    )


def _time_quantum_s(t: NDArray[np.float64]) -> float:
    """The resolution the timestamps were written with (1e-3 for whole milliseconds), or 0 when
    they carry more than nine decimals (no rounding to speak of)."""
    for k in range(10):
        scaled = t * 10.0**k
        if np.max(np.abs(scaled - np.round(scaled))) <= 1e-3:
            return 10.0**-k
    return 0.0


def _rate_from_t(t: NDArray[np.float64], fs: float | None) -> tuple[float, bool, float]:
    """(sampling rate, whether the samples can be taken as uniform, timestamp quantum in s).

    The rate is samples per second over the stretches without gaps (a step longer than 2.5
    periods plus the timestamp quantum): robust to timestamps rounded to fewer digits than the
    rate needs (104 Hz in whole ms has steps of 9 and 10 ms; 2 kHz in whole ms has ties), where
    the median step would be off. ``fs``, if given, must agree within 5 % and is then used.
    The samples are uniform when every ``t`` lies within half a sample (plus half the quantum)
    of the uniform clock: rounding or arrival jitter of a sensor that samples evenly. Otherwise
    (gaps, drift) they are resampled.
    """
    dt = np.diff(t)
    if dt.size < 2 or np.any(dt < 0) or t[-1] <= t[0]:
        raise AnalysisError("column 't' must increase (seconds since any origin)")
    q = _time_quantum_s(t)
    nominal = (t[-1] - t[0]) / dt.size
    for _ in range(2):  # the second pass with the period found without the gaps
        ok = dt <= 2.5 * nominal + q
        nominal = float(dt[ok].sum()) / int(ok.sum())
    fs_t = 1.0 / nominal
    # epoch-second timestamps of a 500 Hz clock give 500.0000016 Hz: use the rate the clock ran at
    snapped = round(fs_t, 3)
    if abs(fs_t - snapped) <= 1e-6 * fs_t:
        fs_t = snapped
    if fs is not None:
        if abs(fs_t - fs) > 0.05 * fs:
            raise AnalysisError(f"column 't' says {fs_t:.1f} Hz but --fs says {fs:g} Hz")
        fs_t = fs
    off = (t - t[0]) * fs_t - np.arange(t.size)
    uniform = bool(np.max(np.abs(off - np.median(off))) <= 0.5 + 0.5 * q * fs_t)
    if not uniform and np.any(dt == 0):
        raise AnalysisError(
            "column 't' repeats timestamps and does not follow a uniform clock: "
            "drop the t column and pass --fs HZ"
        )
    return fs_t, uniform, q


def _acc_unit_for_median(med: float) -> str:
    """The unit, "g" or "m/s2", that puts a median |acc| of ``med`` at gait's 0.5–6 g.

    The two ranges (0.5–6 in g, 4.9–59 in m/s²) overlap only between 4.9 and 6, where a median
    of 4.9–6 g would be implausible and 0.5–0.6 g too: there the closer to 1 g (in ratio) wins.
    """
    lo, hi = _MEDIAN_ACC_G
    as_g = lo <= med <= hi
    as_si = lo * G0_M_S2 <= med <= hi * G0_M_S2
    if as_g and as_si:
        return "g" if abs(math.log(med)) < abs(math.log(med / G0_M_S2)) else "m/s2"
    if as_g or as_si:
        return "g" if as_g else "m/s2"
    raise AnalysisError(
        f"median |acc| is {med:.3g} in the file's unit: neither about 1 g nor about "
        f"{G0_M_S2:.2f} m/s²; is the file an accelerometer recording in g or m/s²?"
    )


def _resolve_units(
    acc: NDArray[np.float64], gyr: NDArray[np.float64] | None, acc_unit: str, gyro_unit: str
) -> tuple[str, str]:
    """Infer "auto" units and check given ones against the data, in the file's units (each
    norm is taken once): the median |acc| of gait is 0.5–6 g; during gait (|acc| 99th
    percentile above 2 g) a foot gyro turns at hundreds of deg/s (5–20 rad/s)."""
    a = np.linalg.norm(acc, axis=1)
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise AnalysisError("no finite acceleration sample")
    med = float(np.median(a))
    if acc_unit == "auto":
        acc_unit = _acc_unit_for_median(med)
    scale = G0_M_S2 if acc_unit == "g" else 1.0
    lo, hi = _MEDIAN_ACC_G
    if not lo * G0_M_S2 <= med * scale <= hi * G0_M_S2:
        hint = "g" if med * scale < lo * G0_M_S2 else "m/s2"
        raise AnalysisError(
            f"median |acc| is {med * scale:.3g} {acc_unit} after conversion, not about 1 g: "
            f"wrong unit? try --acc-unit {hint}"
        )
    inferred = gyro_unit == "auto"
    if gyr is None or float(np.percentile(a, 99)) * scale <= 2.0 * G0_M_S2:
        return acc_unit, "deg/s" if inferred else gyro_unit  # no gyro, or no gait to judge by
    w99 = float(np.nanpercentile(np.linalg.norm(gyr, axis=1), 99))
    if inferred:
        gyro_unit = "rad/s" if w99 < _GAIT_GYRO_MIN_DEG_S else "deg/s"
    w_max = math.degrees(w99) if gyro_unit == "rad/s" else w99
    if w_max < _GAIT_GYRO_MIN_DEG_S and gyro_unit == "deg/s":
        raise AnalysisError(
            f"gyro peaks at {w_max:.3g} deg/s during gait (expected hundreds): "
            f"wrong unit? try --gyro-unit rad/s (given deg/s)"
        )
    if w_max < _GAIT_GYRO_MIN_DEG_S:
        how = "inferred" if inferred else "given"
        raise AnalysisError(
            f"gyro peaks at {w_max:.3g} deg/s during gait even read as rad/s ({how}): "
            f"is the gyro working? Without gx,gy,gz the acc-only method runs"
        )
    return acc_unit, gyro_unit


def _resample(
    t: NDArray[np.float64],
    acc: NDArray[np.float64],
    gyr: NDArray[np.float64] | None,
    fs: float,
    quantum_s: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    grid = np.arange(math.floor(t[-1] * fs) + 1) / fs
    # a grid point is missing when the nearest real samples around it are a gap apart
    j = np.clip(np.searchsorted(t, grid), 1, t.size - 1)
    gap = (t[j] - t[j - 1]) > _GAP_PERIODS / fs + quantum_s

    def interp(x: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.column_stack([np.interp(grid, t, x[:, k]) for k in range(3)])
        out[gap] = np.nan
        return out

    return interp(acc), None if gyr is None else interp(gyr)
