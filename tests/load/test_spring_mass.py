"""Spring-mass model (Morin et al. 2005): the Δy_c derivation checked by integrating the
half-sine equation of motion, impulse balance, stiffness ranges, and the Achilles estimate."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_service.errors import ConfigError
from sensor_service.kernels._params import G0_M_S2
from sensor_service.load import (
    AthleteParams,
    at_force_est_bw,
    at_impulse_est_bw_s,
    spring_mass,
    step_loads,
)


@pytest.mark.parametrize(("gct_ms", "flight_ms"), [(160.0, 150.0), (250.0, 110.0), (320.0, 40.0)])
def test_delta_y_matches_integrated_half_sine(gct_ms: float, flight_ms: float) -> None:
    """Integrate ÿ = F(t)/m − g with the lowest point at mid-contact: the COM drop from IC to
    mid-stance must equal F_max·tc²/(m·π²) − g·tc²/8 (the sign SCIENCE.md asked to verify)."""
    m = 70.0
    sm = spring_mass([gct_ms], [flight_ms], mass_kg=m, leg_length_m=0.95)
    tc = gct_ms / 1000.0
    f_max = sm.fz_peak_bw[0] * m * G0_M_S2
    n = 200_001
    t = np.linspace(0.0, tc, n)
    acc = f_max / m * np.sin(np.pi * t / tc) - G0_M_S2
    dt = t[1] - t[0]
    vel = np.concatenate([[0.0], np.cumsum((acc[1:] + acc[:-1]) / 2.0) * dt])
    vel -= vel[n // 2]  # vertical velocity is zero at mid-contact (symmetry)
    pos = np.concatenate([[0.0], np.cumsum((vel[1:] + vel[:-1]) / 2.0) * dt])
    drop = pos[0] - pos[n // 2]
    assert sm.delta_y_m[0] == pytest.approx(drop, rel=1e-6)
    # ... and the other sign would be wrong by g·tc²/4
    wrong = f_max * tc**2 / (m * np.pi**2) + G0_M_S2 * tc**2 / 8.0
    assert abs(wrong - drop) > 0.9 * G0_M_S2 * tc**2 / 4.0
    # the contact starts and ends at the same height and speed (a periodic bounce)
    assert pos[-1] == pytest.approx(pos[0], abs=1e-9)
    # vertical impulse over a step equals body weight × (contact + flight)
    impulse = np.sum((np.sin(np.pi * t[1:] / tc) + np.sin(np.pi * t[:-1] / tc)) / 2) * dt * f_max
    assert impulse == pytest.approx(m * G0_M_S2 * (tc + flight_ms / 1000.0), rel=1e-6)


def test_typical_running_values() -> None:
    """3.5 m/s, tc 250 ms, tf 110 ms, 70 kg, L 0.94 m: Morin's ranges (k_vert 20–40 kN/m,
    k_leg 7–15 kN/m, F_max 2–3 BW)."""
    sm = spring_mass([250.0], [110.0], mass_kg=70.0, leg_length_m=0.94, speed_m_s=3.5)
    assert 2.0 < sm.fz_peak_bw[0] < 3.0
    assert sm.fz_peak_bw[0] == pytest.approx(np.pi / 2 * (110 / 250 + 1))
    assert 20.0 < sm.k_vert_kn_m[0] < 40.0
    assert 7.0 < sm.k_leg_kn_m[0] < 15.0


def test_missing_speed_and_walking_give_nan() -> None:
    sm = spring_mass([250.0, 600.0], [110.0, -100.0], mass_kg=70.0, leg_length_m=0.94)
    assert np.isnan(sm.k_leg_kn_m).all()
    assert np.isfinite(sm.k_vert_kn_m[0])
    assert np.isnan(sm.fz_peak_bw[1])


def test_achilles_estimate_calibration_and_order() -> None:
    """~6–10 BW for typical running, rearfoot < midfoot < forefoot (SCIENCE.md §4)."""
    athlete = AthleteParams(mass_kg=70.0, height_m=1.78)
    at = at_force_est_bw([2.5, 2.5, 2.5], ["rearfoot", "midfoot", "forefoot"], athlete)
    assert at == pytest.approx([7.2, 8.2, 8.7], abs=0.05)
    assert at[0] < at[1] < at[2]
    # 71/80/85 N/kg relative ratios within 3 %
    assert at / at[0] == pytest.approx(np.array([71, 80, 85]) / 71, rel=0.03)
    assert at_force_est_bw([2.5], ["unknown"], athlete)[0] == pytest.approx(at[1])
    # a larger moment arm means less tendon force for the same moment
    thick = AthleteParams(mass_kg=70.0, height_m=1.78, at_moment_arm_m=0.040)
    assert at_force_est_bw([2.5], ["rearfoot"], thick)[0] < at[0]
    imp = at_impulse_est_bw_s(at, [250.0, 250.0, 250.0])
    assert imp == pytest.approx(at * 0.25 * 2 / np.pi)


def test_step_loads_over_a_run() -> None:
    athlete = AthleteParams(mass_kg=60.0, leg_length_m=0.9)
    loads = step_loads([240.0] * 4, [120.0] * 4, ["forefoot"] * 4, athlete, speed_m_s=3.2)
    assert np.all((loads.at_force_est_bw > 6) & (loads.at_force_est_bw < 10))
    assert np.all(np.isfinite(loads.k_leg_kn_m))
    assert loads.at_impulse_est_bw_s.sum() == pytest.approx(4 * loads.at_impulse_est_bw_s[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mass_kg": 70.0},
        {"mass_kg": 5.0, "height_m": 1.7},
        {"mass_kg": 70.0, "height_m": 1.7, "at_moment_arm_m": 0.2},
        {"mass_kg": 70.0, "leg_length_m": 3.0},
    ],
)
def test_athlete_params_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        AthleteParams(**kwargs)


def test_leg_length_from_height() -> None:
    assert AthleteParams(mass_kg=70.0, height_m=1.8).leg_m == pytest.approx(0.954)
