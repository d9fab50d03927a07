"""A kinematic signal model of running feet, with the ground truth of every contact.

The model moves a rigid foot through each stride and measures it with a virtual IMU on the
dorsum of the foot, so accelerometer and gyroscope signals stay physically consistent:

* **Stance** pivots about the heel (rearfoot / midfoot strike) or the ball of the foot (forefoot
  strike) from initial contact (IC) to foot-flat, rests flat, then rolls over the ball from
  heel-off to toe-off (TO). The sensor position is ``pivot + R(pitch)·(sensor − pivot)``.
* **Swing** joins the toe-off pose to the next landing pose with cubic Hermite curves (C1
  continuous position and pitch), through a mid-swing apex.
* **Impact**: a damped oscillation at IC whose size depends on the strike pattern (running foot
  impacts reach tens of g; a ±16 g accelerometer saturates: Bailey & Harle 2014, SCIENCE.md §1).
* Strike angle at IC (foot pitch relative to standing, Altman & Davis 2012; means 17.7° rearfoot,
  2.6° midfoot, −7.9° forefoot, JSSM 2025, SCIENCE.md §2), step-to-step variability, sensor noise.

A run starts and ends standing still (both feet flat), so a detector must not invent a step
from the first push-off or the last landing: truth counts only contacts with both IC and TO.

Frame (gaitmap's foot frame, both feet): x toward the toe, y to the runner's left, z up.
Accelerometer in m/s² including gravity (+9.81 on z at rest), gyroscope in deg/s with
``gyr_y > 0`` = plantar flexion (toe going down).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "STRIKE_ANGLE_DEG",
    "ContactTruth",
    "GaitSimulator",
    "RunnerParams",
]

G_M_S2: Final = 9.80665
Strike = Literal["rearfoot", "midfoot", "forefoot"]
#: Typical strike angles (JSSM 2025 means, SCIENCE.md §2), used when none is given.
STRIKE_ANGLE_DEG: Final[dict[str, float]] = {"rearfoot": 17.7, "midfoot": 2.6, "forefoot": -7.9}
#: Typical peak impact at the foot in g for each strike pattern (model default, not a measurement).
_IMPACT_G: Final[dict[str, float]] = {"rearfoot": 12.0, "midfoot": 8.0, "forefoot": 6.0}

# Foot geometry in the foot frame with the heel at the origin (metres).
_HEEL: Final = np.array([0.0, 0.0])
_BALL: Final = np.array([0.18, 0.0])
_SENSOR: Final = np.array([0.12, 0.06])
_H_S: Final = 1e-4  # step of the numerical derivatives (s)
_Num = NDArray[np.float64] | float


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerParams:
    """How one simulated runner runs. Units are in the names."""

    cadence_spm: float = 170.0
    gct_ms: float = 240.0
    speed_m_s: float = 3.2
    strike: Strike = "rearfoot"
    strike_angle_deg: float | None = None
    step_cv: float = 0.02
    gct_cv: float = 0.03
    impact_g: float | None = None
    toe_off_pitch_deg: float = -35.0
    swing_min_pitch_deg: float = -60.0
    acc_noise_m_s2: float = 0.25
    gyr_noise_deg_s: float = 2.0
    stand_s: float = 2.0

    def __post_init__(self) -> None:
        if not 100.0 <= self.cadence_spm <= 240.0:
            raise ValueError(f"cadence_spm {self.cadence_spm} outside 100..240")
        step_ms = 60000.0 / self.cadence_spm
        if not 100.0 <= self.gct_ms < step_ms:
            raise ValueError(
                f"gct_ms {self.gct_ms} must be ≥ 100 and shorter than a step ({step_ms:.0f} ms) "
                "for a running gait with flight"
            )
        if self.strike not in STRIKE_ANGLE_DEG:
            raise ValueError(f"strike must be one of {tuple(STRIKE_ANGLE_DEG)}")


@dataclass(frozen=True, slots=True)
class ContactTruth:
    """Ground truth of one foot's complete contacts (both IC and TO inside the run)."""

    ic_s: NDArray[np.float64]
    to_s: NDArray[np.float64]
    strike_angle_deg: NDArray[np.float64]

    @property
    def gct_ms(self) -> NDArray[np.float64]:
        return (self.to_s - self.ic_s) * 1000.0


def _hermite(
    t: NDArray[np.float64],
    t0: NDArray[np.float64],
    t1: NDArray[np.float64],
    p0: _Num,
    p1: _Num,
    v0: _Num,
    v1: _Num,
) -> NDArray[np.float64]:
    """Cubic Hermite segment value at ``t`` (all arrays broadcast)."""
    dt = t1 - t0
    s = (t - t0) / dt
    s2 = s * s
    s3 = s2 * s
    return (
        (2 * s3 - 3 * s2 + 1) * p0
        + (s3 - 2 * s2 + s) * dt * v0
        + (-2 * s3 + 3 * s2) * p1
        + (s3 - s2) * dt * v1
    )


def _rot(pitch_rad: NDArray[np.float64], vec: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotate a sagittal (x, z) vector by pitch (toe-up positive); returns shape (n, 2)."""
    c, s = np.cos(pitch_rad), np.sin(pitch_rad)
    return np.stack([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1]], axis=-1)


@dataclass(slots=True)
class _Foot:
    """Keyframes of one foot: contacts (IC, flat, heel-off, TO) and ground positions."""

    ic_s: NDArray[np.float64]  # -inf for the standing start
    to_s: NDArray[np.float64]  # +inf for the standing end
    flat_s: NDArray[np.float64]
    heel_off_s: NDArray[np.float64]
    ground_x_m: NDArray[np.float64]  # heel position on the ground during the contact
    strike_rad: NDArray[np.float64]
    impact_m_s2: NDArray[np.float64]
    pivot_forefoot: bool
    rng: np.random.Generator = field(repr=False)


class GaitSimulator:
    """Renders both feet of one runner at any sample times, and knows every contact's truth."""

    def __init__(self, params: RunnerParams, *, duration_s: float, seed: int = 0) -> None:
        if duration_s <= 0:
            raise ValueError("duration_s must be positive")
        self.params = params
        self.duration_s = float(duration_s)
        rng = np.random.default_rng(seed)
        self._feet = self._schedule(rng)
        #: Time at which both feet stand still again and the recording may end.
        last_ic = max(float(f.ic_s[-1]) for f in self._feet.values())
        self.end_s = last_ic + params.gct_ms / 1000.0 + params.stand_s

    # ------------------------------------------------------------------ schedule
    def _schedule(self, rng: np.random.Generator) -> dict[str, _Foot]:
        p = self.params
        step_s = 60.0 / p.cadence_spm
        gct_s = p.gct_ms / 1000.0
        t0 = p.stand_s
        t_end = t0 + self.duration_s
        strike_deg = (
            STRIKE_ANGLE_DEG[p.strike] if p.strike_angle_deg is None else p.strike_angle_deg
        )
        impact_g = _IMPACT_G[p.strike] if p.impact_g is None else p.impact_g
        # Contact k alternates left (even) / right (odd); k = -2, -1 are the standing feet.
        ics: list[float] = []
        t = t0 - 2 * step_s
        while t < t_end:
            ics.append(t)
            t += step_s * (1.0 + p.step_cv * float(np.clip(rng.standard_normal(), -3, 3)))
        n = len(ics)
        gcts = gct_s * (1.0 + p.gct_cv * np.clip(rng.standard_normal(n), -3, 3))
        # Keep a flight phase: contact must end before the other foot lands.
        ic_arr = np.asarray(ics)
        nxt = np.append(ic_arr[1:], np.inf)
        gcts = np.minimum(gcts, 0.9 * (nxt - ic_arr))
        strikes = np.deg2rad(strike_deg + 2.0 * np.clip(rng.standard_normal(n), -3, 3))
        impacts = impact_g * G_M_S2 * (1.0 + 0.15 * np.clip(rng.standard_normal(n), -3, 3))
        stride_m = p.speed_m_s * 2 * step_s
        feet: dict[str, _Foot] = {}
        for side, first in (("left", 0), ("right", 1)):
            idx = np.arange(first, n, 2)
            ic = ic_arr[idx].copy()
            to = ic + gcts[idx]
            ic[0] = -np.inf  # standing start: the foot has been flat since before t=0
            to[-1] = np.inf  # standing end: the last landing has no toe-off
            gct = gcts[idx]
            flat = ic + {"rearfoot": 0.2, "midfoot": 0.12, "forefoot": 0.25}[p.strike] * gct
            heel_off = ic + 0.55 * gct
            heel_off[0] = to[0] - 0.45 * gct[0]
            heel_off[-1] = np.inf
            ground = np.arange(len(idx), dtype=np.float64) * stride_m + (
                0.0 if side == "left" else stride_m / 2
            )
            feet[side] = _Foot(
                ic_s=ic,
                to_s=to,
                flat_s=flat,
                heel_off_s=heel_off,
                ground_x_m=ground,
                strike_rad=strikes[idx],
                impact_m_s2=impacts[idx],
                pivot_forefoot=p.strike == "forefoot",
                rng=np.random.default_rng(rng.integers(1 << 63)),
            )
        return feet

    def truth(self, side: str) -> ContactTruth:
        """Contacts of ``side`` that have both an IC and a TO within the run."""
        f = self._feet[side]
        ok = np.isfinite(f.ic_s) & np.isfinite(f.to_s)
        return ContactTruth(f.ic_s[ok], f.to_s[ok], np.rad2deg(f.strike_rad[ok]))

    # ------------------------------------------------------------------ kinematics
    def _pitch_and_pos(
        self, f: _Foot, t: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Foot pitch (rad, toe-up positive) and sensor position (n, 2) in the sagittal plane."""
        p = self.params
        to_pitch = np.deg2rad(p.toe_off_pitch_deg)
        min_pitch = np.deg2rad(p.swing_min_pitch_deg)
        # Contact index whose IC is the latest one at or before t.
        k = np.searchsorted(f.ic_s, t, side="right") - 1
        k = np.clip(k, 0, len(f.ic_s) - 1)
        ic, to, flat, ho = f.ic_s[k], f.to_s[k], f.flat_s[k], f.heel_off_s[k]
        ground = f.ground_x_m[k]
        pitch = np.zeros_like(t)
        pos = np.zeros((t.size, 2))
        in_stance = t < to
        # --- stance: strike -> flat about the heel (or ball), flat, heel-off -> TO about the ball
        a = in_stance & (t < flat)
        if np.any(a):
            dur = flat[a] - ic[a]
            # Zero pitch velocity at IC: the foot slap (or heel drop) follows the contact.
            zero = 0.0 * dur
            pitch[a] = _hermite(t[a], ic[a], flat[a], f.strike_rad[k[a]], zero, zero, zero)
            piv = _BALL if f.pivot_forefoot else _HEEL
            pos[a] = np.stack([ground[a] + piv[0], np.full(a.sum(), piv[1])], -1) + _rot(
                pitch[a], _SENSOR - piv
            )
        b = in_stance & (t >= flat) & (t < ho)
        pos[b] = np.stack([ground[b] + _SENSOR[0], np.full(b.sum(), _SENSOR[1])], -1)
        c = in_stance & (t >= ho)
        if np.any(c):
            dur = to[c] - ho[c]
            w_to = 2.2 * to_pitch / dur
            pitch[c] = _hermite(
                t[c], ho[c], to[c], 0.0 * dur, to_pitch + 0.0 * dur, 0.0 * dur, w_to
            )
            pos[c] = np.stack([ground[c] + _BALL[0], np.full(c.sum(), _BALL[1])], -1) + _rot(
                pitch[c], _SENSOR - _BALL
            )
        # --- swing: Hermite from the TO pose through the apex to the next landing pose
        s = ~in_stance
        if np.any(s):
            ks = k[s]
            kn = np.minimum(ks + 1, len(f.ic_s) - 1)
            ts, t_to, t_ic = t[s], to[s], f.ic_s[kn]
            dur_to = to[s] - ho[s]
            w_to = 2.2 * to_pitch / dur_to
            strike_n = f.strike_rad[kn]
            w_ic = 0.0 * t_ic
            t_min = t_to + 0.3 * (t_ic - t_to)
            t_late = t_ic - 0.25 * (t_ic - t_to)
            late_pitch = strike_n + np.deg2rad(6.0)
            pitch_s = np.where(
                ts < t_min,
                _hermite(ts, t_to, t_min, to_pitch, min_pitch, w_to, 0.0),
                np.where(
                    ts < t_late,
                    _hermite(ts, t_min, t_late, min_pitch, late_pitch, 0.0, 0.0),
                    _hermite(ts, t_late, t_ic, late_pitch, strike_n, 0.0, w_ic),
                ),
            )
            pitch[s] = pitch_s
            # Poses and velocities at TO and at the next IC, from the stance formulas.
            rel_to = _SENSOR - _BALL
            p_to = np.stack([ground[s] + _BALL[0], np.zeros(s.sum())], -1) + _rot(
                np.full(s.sum(), to_pitch), rel_to
            )
            v_to = w_to[:, None] * _rot(np.full(s.sum(), to_pitch + np.pi / 2), rel_to)
            piv = _BALL if f.pivot_forefoot else _HEEL
            rel_ic = _SENSOR - piv
            p_ic = np.stack([f.ground_x_m[kn] + piv[0], np.full(s.sum(), piv[1])], -1) + _rot(
                strike_n, rel_ic
            )
            v_ic = w_ic[:, None] * _rot(strike_n + np.pi / 2, rel_ic)
            t_apex = t_to + 0.45 * (t_ic - t_to)
            apex = np.stack(
                [0.5 * (p_to[:, 0] + p_ic[:, 0]), np.full(s.sum(), 0.18 + 0.02 * p.speed_m_s)], -1
            )
            v_apex = np.stack(
                [1.6 * (p_ic[:, 0] - p_to[:, 0]) / (t_ic - t_to), np.zeros(s.sum())], -1
            )
            first = (ts < t_apex)[:, None]
            tsc, tto, tap, tic = ts[:, None], t_to[:, None], t_apex[:, None], t_ic[:, None]
            pos[s] = np.where(
                first,
                _hermite(tsc, tto, tap, p_to, apex, v_to, v_apex),
                _hermite(tsc, tap, tic, apex, p_ic, v_apex, v_ic),
            )
        return pitch, pos

    def render(
        self, side: str, t_s: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """IMU signals of ``side`` at times ``t_s``: acc (n, 3) m/s² and gyr (n, 3) deg/s.

        Noise comes from the foot's own generator, so rendering a run in consecutive chunks gives
        the same signals as rendering it at once.
        """
        f = self._feet[side]
        t = np.asarray(t_s, dtype=np.float64)
        pitch, pos = self._pitch_and_pos(f, t)
        pitch_p, pos_p = self._pitch_and_pos(f, t + _H_S)
        pitch_m, pos_m = self._pitch_and_pos(f, t - _H_S)
        acc_world = (pos_p - 2 * pos + pos_m) / (_H_S * _H_S)
        acc_world[:, 1] += G_M_S2
        # Impact transient at each landing: damped oscillation, mostly vertical.
        k = np.clip(np.searchsorted(f.ic_s, t, side="right") - 1, 0, len(f.ic_s) - 1)
        since = t - f.ic_s[k]
        ok = np.isfinite(since) & (since >= 0) & (since < 0.06)
        amp = np.where(ok, f.impact_m_s2[k], 0.0)
        pulse = (
            amp
            * np.exp(-np.where(ok, since, 0.0) / 0.006)
            * np.sin(2 * np.pi * 45.0 * np.where(ok, since, 0.0))
        )
        acc_world[:, 1] += pulse
        acc_world[:, 0] -= 0.3 * pulse
        omega = (pitch_p - pitch_m) / (2 * _H_S)  # rad/s, toe-up positive
        # World sagittal acc -> foot frame (x forward, z up) rotated by the pitch.
        c, s_ = np.cos(pitch), np.sin(pitch)
        ax = c * acc_world[:, 0] + s_ * acc_world[:, 1]
        az = -s_ * acc_world[:, 0] + c * acc_world[:, 1]
        n = t.size
        # Small out-of-plane motion during swing (foot yaw/roll), mirrored between feet.
        mirror = 1.0 if side == "left" else -1.0
        swing = (np.abs(omega) > 0.5).astype(np.float64)
        lateral = mirror * swing * np.sin(2 * np.pi * 1.5 * t)
        acc = np.column_stack([ax, 1.5 * lateral, az])
        gyr = np.column_stack([20.0 * lateral, -np.rad2deg(omega), 15.0 * lateral])
        p = self.params
        # One draw of 6 values per sample, so chunked rendering consumes the generator alike.
        noise = f.rng.standard_normal((n, 6))
        acc += p.acc_noise_m_s2 * noise[:, :3]
        gyr += p.gyr_noise_deg_s * noise[:, 3:]
        return acc, gyr
