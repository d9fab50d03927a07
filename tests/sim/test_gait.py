"""The gait signal model: truth is consistent, chunking does not change signals, physics holds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sensor_service.sim.gait import G_M_S2, GaitSimulator, RunnerParams
from sensor_service.sim.sources import FootSampleSource


def test_truth_matches_the_requested_gait() -> None:
    params = RunnerParams(cadence_spm=180, gct_ms=230)
    sim = GaitSimulator(params, duration_s=60, seed=3)
    left, right = sim.truth("left"), sim.truth("right")
    assert abs(left.ic_s.size + right.ic_s.size - 180) <= 4
    assert np.median(np.concatenate([left.gct_ms, right.gct_ms])) == pytest.approx(230, abs=5)
    ics = np.sort(np.concatenate([left.ic_s, right.ic_s]))
    assert np.median(np.diff(ics)) == pytest.approx(60 / 180, rel=0.03)
    # Running: each contact ends before the other foot lands (a flight phase).
    both = sorted(
        [(i, o, "L") for i, o in zip(left.ic_s, left.to_s, strict=True)]
        + [(i, o, "R") for i, o in zip(right.ic_s, right.to_s, strict=True)]
    )
    assert all(a[1] < b[0] for a, b in itertools.pairwise(both))


def test_standing_start_and_end_read_gravity_only() -> None:
    sim = GaitSimulator(RunnerParams(acc_noise_m_s2=0, gyr_noise_deg_s=0), duration_s=5, seed=1)
    t = np.r_[np.linspace(0, 0.5, 50), np.linspace(sim.end_s - 0.5, sim.end_s, 50)]
    acc, gyr = sim.render("right", t)
    assert np.allclose(acc, [0, 0, G_M_S2], atol=1e-3)
    assert np.allclose(gyr, 0, atol=1e-3)


def test_chunked_rendering_equals_one_call() -> None:
    def read_all(chunk: int) -> np.ndarray:
        sim = GaitSimulator(RunnerParams(), duration_s=3, seed=5)
        src = FootSampleSource(sim, "left", sampling_rate_hz=400, forward_axis="+y", left_axis="-x")
        parts = []
        while (got := src.read(chunk)) is not None:
            parts.append(np.hstack(got))
        return np.vstack(parts)

    assert np.array_equal(read_all(19), read_all(10_000))


def test_plantar_flexion_is_positive_gyr_y_before_toe_off() -> None:
    sim = GaitSimulator(RunnerParams(gyr_noise_deg_s=0), duration_s=5, seed=2)
    tr = sim.truth("left")
    _, gyr = sim.render("left", tr.to_s - 0.01)
    assert np.all(gyr[:, 1] > 200)  # foot rolling over the toes, toe going down


@pytest.mark.parametrize("bad", [{"cadence_spm": 300}, {"gct_ms": 400}, {"strike": "heel"}])
def test_impossible_runners_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|outside"):
        RunnerParams(**bad)  # type: ignore[arg-type]
