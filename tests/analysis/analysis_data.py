"""Helpers of the analysis tests: simulated pods as DataFrames (axes rotated), CSV writer."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

# the event-matching helper of the kernel tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))

from sensor_service.sim.gait import G_M_S2, GaitSimulator, RunnerParams

pd = pytest.importorskip("pandas", reason="offline analysis needs pandas (analysis extra)")

FS = 400.0


@lru_cache(maxsize=8)
def sim_frames(placement: str, strike: str = "rearfoot", seed: int = 5) -> tuple:  # type: ignore[type-arg]
    """(left DataFrame, right DataFrame, simulator): acc in g, gyro in rad/s, rotated axes."""
    sim = GaitSimulator(
        RunnerParams(strike=strike, cadence_spm=180.0, gct_ms=220.0, speed_m_s=3.8),  # type: ignore[arg-type]
        duration_s=25.0,
        seed=seed,
    )
    t = np.arange(int(sim.end_s * FS)) / FS
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    frames = []
    for side in ("left", "right"):
        if placement == "foot":
            acc, gyr = sim.render(side, t)
        else:
            acc, gyr = sim.render_pod(side, t, placement)
        acc, gyr = acc @ q.T, gyr @ q.T  # pod strapped on in an arbitrary orientation
        df = pd.DataFrame(
            {
                "t": t + 1000.0,  # any origin
                "ax": acc[:, 0] / G_M_S2,
                "ay": acc[:, 1] / G_M_S2,
                "az": acc[:, 2] / G_M_S2,
            }
        )
        if placement == "foot":
            df["gx"], df["gy"], df["gz"] = np.deg2rad(gyr).T
        frames.append(df)
    return frames[0], frames[1], sim


def write_csv(df: pd.DataFrame, directory: Path, name: str = "rec.csv") -> Path:
    """Write ``df`` as a recording CSV (header, no index)."""
    path = directory / name
    df.to_csv(path, index=False)
    return path
