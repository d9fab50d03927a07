"""Helpers of the kernel tests: event matching, accuracy figures, simulated runs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from sensor_service.sim.gait import G_M_S2, GaitSimulator, RunnerParams

#: The simulator's "realistic touchdown" options (also used by benchmarks/accuracy_report.py):
#: foot already plantar-flexing at IC, a 5 ms impact onset, continuous accelerations.
REALISTIC: dict[str, object] = {
    "smooth_kinematics": True,
    "impact_onset_ms": 5.0,
    "touchdown_plantarflex_deg_s": 100.0,
}


def match_events(
    det: NDArray[np.float64], truth: NDArray[np.float64], tol: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """One-to-one pairs (det index, truth index) within ``tol``, closest pairs first."""
    if det.size == 0 or truth.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dist = np.abs(det[:, None] - truth[None, :])
    cand = np.argwhere(dist <= tol)
    order = np.argsort(dist[cand[:, 0], cand[:, 1]], kind="stable")
    used_d: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for i, j in cand[order]:
        if int(i) not in used_d and int(j) not in used_t:
            used_d.add(int(i))
            used_t.add(int(j))
            pairs.append((int(i), int(j)))
    pairs.sort(key=lambda p: p[1])
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


@dataclass(frozen=True)
class Accuracy:
    """Step detection figures; errors in ms (detected − truth)."""

    tp: int
    fp: int
    fn: int
    ic_err_ms: NDArray[np.float64]
    to_err_ms: NDArray[np.float64]
    gct_err_ms: NDArray[np.float64]

    @property
    def f1(self) -> float:
        return 2 * self.tp / max(1, 2 * self.tp + self.fp + self.fn)

    def summary(self, label: str) -> str:
        def med(x: NDArray[np.float64]) -> str:
            if x.size == 0:
                return "n/a"
            return (
                f"bias {np.median(x):+.1f} ms, median |err| {np.median(np.abs(x)):.1f} ms, "
                f"p95 |err| {np.percentile(np.abs(x), 95):.1f} ms"
            )

        return (
            f"{label}: F1 {self.f1:.3f} (TP {self.tp}, FP {self.fp}, FN {self.fn}); "
            f"IC {med(self.ic_err_ms)}; TO {med(self.to_err_ms)}; GCT {med(self.gct_err_ms)}"
        )


def accuracy(
    det_ic_s: NDArray[np.float64],
    det_to_s: NDArray[np.float64],
    truth_ic_s: NDArray[np.float64],
    truth_to_s: NDArray[np.float64],
    tol_s: float,
) -> Accuracy:
    """Match ICs; truth TO may be NaN (IC without annotated TO: counted, no TO/GCT error)."""
    di, tj = match_events(det_ic_s, truth_ic_s, tol_s)
    ic_err = (det_ic_s[di] - truth_ic_s[tj]) * 1000.0
    to_err = (det_to_s[di] - truth_to_s[tj]) * 1000.0
    ok = np.isfinite(to_err)
    return Accuracy(
        tp=int(di.size),
        fp=int(det_ic_s.size - di.size),
        fn=int(truth_ic_s.size - di.size),
        ic_err_ms=ic_err,
        to_err_ms=to_err[ok],
        gct_err_ms=(to_err - ic_err)[ok],
    )


@lru_cache(maxsize=64)
def sim_run(
    strike: str = "rearfoot",
    *,
    sampling_rate_hz: float = 400.0,
    cadence_spm: float = 170.0,
    gct_ms: float = 240.0,
    impact_g: float | None = None,
    clip_g: float | None = None,
    duration_s: float = 20.0,
    seed: int = 1,
    side: str = "left",
    noise_scale: float = 1.0,
    step_cv: float = 0.02,
    gct_cv: float = 0.03,
    realistic: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64], GaitSimulator]:
    """Render one foot of a simulated run (acc m/s², gyr deg/s, foot frame) and its simulator.

    ``realistic``: the simulator's "realistic touchdown" options (:data:`REALISTIC`), which
    keep it from confirming the kernel's own features.
    """
    params = RunnerParams(
        strike=strike,  # type: ignore[arg-type]
        cadence_spm=cadence_spm,
        gct_ms=gct_ms,
        impact_g=impact_g,
        speed_m_s=2.5 + cadence_spm / 100.0,
        acc_noise_m_s2=0.25 * noise_scale,
        gyr_noise_deg_s=2.0 * noise_scale,
        step_cv=step_cv,
        gct_cv=gct_cv,
        **(REALISTIC if realistic else {}),  # type: ignore[arg-type]
    )
    sim = GaitSimulator(params, duration_s=duration_s, seed=seed)
    t = np.arange(int(sim.end_s * sampling_rate_hz)) / sampling_rate_hz
    acc, gyr = sim.render(side, t)
    if clip_g is not None:
        acc = np.clip(acc, -clip_g * G_M_S2, clip_g * G_M_S2)
    acc.setflags(write=False)
    gyr.setflags(write=False)
    return acc, gyr, sim
