"""Loader of the real gaitmap walking sample (tests and benchmarks only; needs pandas).

The data stay in ``/work/shared/data/gaitmap_walking`` (``../shared/data`` from the repo root),
never in the repo. Source: mad-lab-fau/gaitmap ``example_data/`` (MIT), see the README there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["GAITMAP_DIR", "GAITMAP_SAMPLING_RATE_HZ", "GaitmapFoot", "load_gaitmap_foot"]

GAITMAP_DIR: Final = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gaitmap_walking"
)
GAITMAP_SAMPLING_RATE_HZ: Final = 204.8


@dataclass(frozen=True, slots=True)
class GaitmapFoot:
    """One foot of the recording, in the gaitmap foot frame, with motion-capture truth."""

    acc_m_s2: NDArray[np.float64]
    gyr_deg_s: NDArray[np.float64]
    ic_idx: NDArray[np.float64]  # union of pre_ic and ic, sorted
    to_idx: NDArray[np.float64]  # tc, sorted
    contacts: NDArray[np.float64]  # (n, 2): IC and the TO that ends the same contact


def load_gaitmap_foot(side: str, data_dir: Path = GAITMAP_DIR) -> GaitmapFoot:
    """Load ``side`` ("left" / "right") of the gaitmap walking sample."""
    import pandas as pd  # optional dependency: tests and benchmarks only

    imu = pd.read_csv(data_dir / "imu_sample.csv", header=[0, 1], index_col=0)
    sensor = imu[f"{side}_sensor"]
    acc = sensor[["acc_x", "acc_y", "acc_z"]].to_numpy(dtype=np.float64)
    gyr = sensor[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(dtype=np.float64)
    ev = pd.read_csv(data_dir / "stride_events_sample.csv")
    ev = ev[ev["foot"] == side]
    ics = np.union1d(ev["pre_ic"].to_numpy(float), ev["ic"].to_numpy(float))
    tos = np.sort(ev["tc"].to_numpy(float))
    # A contact runs from an IC to the first TO after it, provided no other IC intervenes.
    pairs = []
    for ic in ics:
        later = tos[tos > ic]
        if later.size and not np.any((ics > ic) & (ics < later[0])):
            pairs.append((ic, later[0]))
    return GaitmapFoot(
        np.ascontiguousarray(acc),
        np.ascontiguousarray(gyr),
        ics,
        tos,
        np.asarray(pairs, dtype=np.float64).reshape(-1, 2),
    )
