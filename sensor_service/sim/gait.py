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

Options (defaults keep the original model; the kernel tests asked for a less self-confirming
touchdown): ``touchdown_plantarflex_deg_s`` gives the foot a non-zero pitch velocity at IC (the
slap already under way), ``impact_onset_ms`` ramps the impact in gradually (raised cosine) instead
of starting it at full slope. :meth:`GaitSimulator.render_pod` renders a pod worn on the **ankle**
(just above the malleoli) or the **shank** (mid-tibia): the pod follows the shank's own pitch
(a keyframed shank angle: near vertical at IC, leaning forward through stance to the maximum ankle
dorsiflexion at heel-off, swinging back in early swing and forward again before landing, with a
non-zero angular velocity at touchdown) and the ankle joint's translation with the foot, an
attenuated impact plus soft-tissue wobble (a damped 10–20 Hz oscillation of the soft tissue under
the strap after each landing). :meth:`GaitSimulator.ankle_truth` gives the true maximum
dorsiflexion (shank pitch − foot pitch, SCIENCE.md §9) of every contact.

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
    "POD_OFFSET_M",
    "STRIKE_ANGLE_DEG",
    "AnkleTruth",
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
_H_POD_S: Final = 0.008  # smoothing half-width of the ankle/shank pod's kinematic acceleration
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
    #: Foot pitch velocity at IC, plantar flexion (toe going down) positive. 0 = the original
    #: model (the slap starts exactly at contact). Real rearfoot landings show the foot already
    #: rotating at touchdown (Sports 2019, 7(8):184 uses its sign to tell strike patterns apart).
    touchdown_plantarflex_deg_s: float = 0.0
    #: Rise time of the impact envelope (raised cosine), ms. 0 = the original instantaneous start.
    impact_onset_ms: float = 0.0
    #: Quintic instead of cubic keyframe curves: continuous acceleration everywhere but the
    #: impact (the cubic model's acceleration jumps at TO and mid-swing, which a detector can
    #: lock onto), and the push-off pitch velocity peaks exactly at TO with zero angular
    #: acceleration (the plantar-flexion velocity peak of Falbriard et al. 2018), so a point
    #: above the ball is pulled down by ω²·r at TO instead of being pushed by α·r.
    smooth_kinematics: bool = False
    # --- shank kinematics (render_pod, ankle_truth). Angles: rotation about the left axis,
    # positive = knee forward of the ankle (shank leaning forward), 0 = standing.
    #: Shank angle at IC (ankle ahead of the knee at landing: negative).
    shank_ic_deg: float = -5.0
    #: Shank angle at heel-off = maximum ankle dorsiflexion in stance (foot flat until then).
    max_dorsiflexion_deg: float = 22.0
    #: Shank angle at TO and at its early-swing maximum.
    shank_to_deg: float = 30.0
    shank_swing_max_deg: float = 80.0
    #: Shank angular velocity at IC (knee already moving forward over the foot), deg/s.
    shank_ic_vel_deg_s: float = 150.0
    #: Impact at the ankle/shank pod relative to the foot's, and soft-tissue wobble under the strap.
    shank_impact_ratio: float = 0.6
    soft_tissue_hz: float = 15.0
    soft_tissue_ratio: float = 0.4
    #: The other foot's landing, transmitted through the body to this ankle/shank pod (a
    #: fraction of that impact; 0 = none).
    contra_impact_ratio: float = 0.15

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
        if not 0.0 <= self.impact_onset_ms <= 30.0:
            raise ValueError(f"impact_onset_ms {self.impact_onset_ms} must be within 0..30")


@dataclass(frozen=True, slots=True)
class ContactTruth:
    """Ground truth of one foot's complete contacts (both IC and TO inside the run)."""

    ic_s: NDArray[np.float64]
    to_s: NDArray[np.float64]
    strike_angle_deg: NDArray[np.float64]

    @property
    def gct_ms(self) -> NDArray[np.float64]:
        return (self.to_s - self.ic_s) * 1000.0


@dataclass(frozen=True, slots=True)
class AnkleTruth:
    """Per complete contact: maximum ankle dorsiflexion in stance (shank − foot pitch), deg."""

    ic_s: NDArray[np.float64]
    max_dorsiflexion_deg: NDArray[np.float64]


#: Where an ankle / shank pod sits, in the shank frame (x forward, z up the shank) from the ankle
#: joint (metres): ankle = just above the malleoli, shank = anterior mid-tibia.
POD_OFFSET_M: Final[dict[str, tuple[float, float]]] = {"ankle": (0.03, 0.06), "shank": (0.04, 0.22)}
#: Ankle joint in the foot frame, heel at the origin (metres).
_ANKLE: Final = np.array([0.06, 0.08])


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


def _quintic(
    t: NDArray[np.float64],
    t0: NDArray[np.float64],
    t1: NDArray[np.float64],
    p0: _Num,
    p1: _Num,
    v0: _Num,
    v1: _Num,
    a0: _Num = 0.0,
    a1: _Num = 0.0,
) -> NDArray[np.float64]:
    """Quintic Hermite segment: value, slope and curvature given at both ends (C2 joins)."""
    dt = t1 - t0
    s = (t - t0) / dt
    s2 = s * s
    s3 = s2 * s
    s4 = s3 * s
    s5 = s4 * s
    return (
        (1 - 10 * s3 + 15 * s4 - 6 * s5) * p0
        + (s - 6 * s3 + 8 * s4 - 3 * s5) * dt * v0
        + (0.5 * s2 - 1.5 * s3 + 1.5 * s4 - 0.5 * s5) * dt * dt * a0
        + (0.5 * s3 - s4 + 0.5 * s5) * dt * dt * a1
        + (-4 * s3 + 7 * s4 - 3 * s5) * dt * v1
        + (10 * s3 - 15 * s4 + 6 * s5) * p1
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
        self._seed = int(seed)
        self._pod_rng: dict[tuple[str, str], np.random.Generator] = {}
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

    def _h(
        self,
        t: NDArray[np.float64],
        t0: NDArray[np.float64],
        t1: NDArray[np.float64],
        p0: _Num,
        p1: _Num,
        v0: _Num,
        v1: _Num,
        a0: _Num = 0.0,
        a1: _Num = 0.0,
    ) -> NDArray[np.float64]:
        """Keyframe curve: cubic (original model) or quintic (``smooth_kinematics``)."""
        if self.params.smooth_kinematics:
            return _quintic(t, t0, t1, p0, p1, v0, v1, a0, a1)
        return _hermite(t, t0, t1, p0, p1, v0, v1)

    def truth(self, side: str) -> ContactTruth:
        """Contacts of ``side`` that have both an IC and a TO within the run."""
        f = self._feet[side]
        ok = np.isfinite(f.ic_s) & np.isfinite(f.to_s)
        return ContactTruth(f.ic_s[ok], f.to_s[ok], np.rad2deg(f.strike_rad[ok]))

    # ------------------------------------------------------------------ kinematics
    def _pitch_and_pos(
        self, f: _Foot, t: NDArray[np.float64], point: NDArray[np.float64] = _SENSOR
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Foot pitch (rad, toe-up positive) and position (n, 2) of ``point`` (foot frame, heel at
        the origin; default the dorsal sensor) in the sagittal plane."""
        p = self.params
        w_land = -np.deg2rad(p.touchdown_plantarflex_deg_s)  # toe-up positive, rad/s
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
            # Pitch velocity at IC is w_land (0 by default: the slap follows the contact).
            zero = 0.0 * dur
            pitch[a] = self._h(t[a], ic[a], flat[a], f.strike_rad[k[a]], zero, zero + w_land, zero)
            piv = _BALL if f.pivot_forefoot else _HEEL
            pos[a] = np.stack([ground[a] + piv[0], np.full(a.sum(), piv[1])], -1) + _rot(
                pitch[a], point - piv
            )
        b = in_stance & (t >= flat) & (t < ho)
        pos[b] = np.stack([ground[b] + point[0], np.full(b.sum(), point[1])], -1)
        c = in_stance & (t >= ho)
        if np.any(c):
            dur = to[c] - ho[c]
            w_to = 2.2 * to_pitch / dur
            pitch[c] = self._h(t[c], ho[c], to[c], 0.0 * dur, to_pitch + 0.0 * dur, 0.0 * dur, w_to)
            pos[c] = np.stack([ground[c] + _BALL[0], np.full(c.sum(), _BALL[1])], -1) + _rot(
                pitch[c], point - _BALL
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
            w_ic = 0.0 * t_ic + w_land
            t_min = t_to + 0.3 * (t_ic - t_to)
            t_late = t_ic - 0.25 * (t_ic - t_to)
            late_pitch = strike_n + np.deg2rad(6.0)
            pitch_s = np.where(
                ts < t_min,
                self._h(ts, t_to, t_min, to_pitch, min_pitch, w_to, 0.0),
                np.where(
                    ts < t_late,
                    self._h(ts, t_min, t_late, min_pitch, late_pitch, 0.0, 0.0),
                    self._h(ts, t_late, t_ic, late_pitch, strike_n, 0.0, w_ic),
                ),
            )
            pitch[s] = pitch_s
            # Poses and velocities at TO and at the next IC, from the stance formulas.
            rel_to = point - _BALL
            p_to = np.stack([ground[s] + _BALL[0], np.zeros(s.sum())], -1) + _rot(
                np.full(s.sum(), to_pitch), rel_to
            )
            v_to = w_to[:, None] * _rot(np.full(s.sum(), to_pitch + np.pi / 2), rel_to)
            piv = _BALL if f.pivot_forefoot else _HEEL
            rel_ic = point - piv
            p_ic = np.stack([f.ground_x_m[kn] + piv[0], np.full(s.sum(), piv[1])], -1) + _rot(
                strike_n, rel_ic
            )
            v_ic = w_ic[:, None] * _rot(strike_n + np.pi / 2, rel_ic)
            # rigid rotation with zero angular acceleration at TO and IC (smooth_kinematics):
            # the point's acceleration is centripetal only, -ω²·r
            a_to = -(w_to**2)[:, None] * _rot(np.full(s.sum(), to_pitch), rel_to)
            a_ic = -(w_ic**2)[:, None] * _rot(strike_n, rel_ic)
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
                self._h(tsc, tto, tap, p_to, apex, v_to, v_apex, a_to, 0.0),
                self._h(tsc, tap, tic, apex, p_ic, v_apex, v_ic, 0.0, a_ic),
            )
        return pitch, pos

    def _impact(self, f: _Foot, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Impact transient (m/s²) after each IC: a damped 45 Hz oscillation, optionally ramped
        in over ``impact_onset_ms`` (raised cosine) rather than starting at full slope."""
        k = np.clip(np.searchsorted(f.ic_s, t, side="right") - 1, 0, len(f.ic_s) - 1)
        since = t - f.ic_s[k]
        ok = np.isfinite(since) & (since >= 0) & (since < 0.06)
        amp = np.where(ok, f.impact_m_s2[k], 0.0)
        since0 = np.where(ok, since, 0.0)
        pulse = amp * np.exp(-since0 / 0.006) * np.sin(2 * np.pi * 45.0 * since0)
        onset_s = self.params.impact_onset_ms / 1000.0
        if onset_s > 0.0:
            ramp = 0.5 * (1.0 - np.cos(np.pi * np.minimum(since0 / onset_s, 1.0)))
            pulse = pulse * ramp
        return pulse

    def _shank_angle(self, f: _Foot, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shank angle (rad, knee forward of the ankle positive, 0 standing) at ``t``.

        Keyframes per contact: IC (``shank_ic_deg`` moving at ``shank_ic_vel_deg_s``), heel-off
        (``max_dorsiflexion_deg``: the foot is flat until then, so this is the stance maximum of
        the ankle angle), TO (``shank_to_deg``), early-swing maximum at 35 % of the swing
        (``shank_swing_max_deg``), back to the next IC. Standing start/end: vertical.
        """
        p = self.params
        th_ic, th_df = np.deg2rad(p.shank_ic_deg), np.deg2rad(p.max_dorsiflexion_deg)
        th_to, th_max = np.deg2rad(p.shank_to_deg), np.deg2rad(p.shank_swing_max_deg)
        w_ic = np.deg2rad(p.shank_ic_vel_deg_s)
        k = np.clip(np.searchsorted(f.ic_s, t, side="right") - 1, 0, len(f.ic_s) - 1)
        ic, to, ho, flat = f.ic_s[k], f.to_s[k], f.heel_off_s[k], f.flat_s[k]
        th = np.zeros_like(t)
        with np.errstate(invalid="ignore"):  # inf - inf at the standing start/end
            push = to - ho
        push_s = np.where(np.isfinite(push), np.maximum(push, 1e-3), 1.0)
        w_ho = 0.5 * (th_to - th_df) / push_s
        w_to = 2.0 * (th_to - th_df) / push_s
        start = ~np.isfinite(ic)  # standing start: vertical until heel-off of the first push-off
        end = ~np.isfinite(to)  # standing end: back to vertical by foot-flat
        a = np.isfinite(ic) & np.isfinite(to) & (t < ho)
        th[a] = self._h(t[a], ic[a], ho[a], th_ic, th_df, w_ic, w_ho[a])
        b = (t >= ho) & (t < to)
        b0 = b & start
        th[b0] = self._h(t[b0], ho[b0], to[b0], 0.0, th_to, 0.0, w_to[b0])
        b1 = b & ~start
        th[b1] = self._h(t[b1], ho[b1], to[b1], th_df, th_to, w_ho[b1], w_to[b1])
        e = end & np.isfinite(ic)
        t_rest = flat + 0.1
        e1 = e & (t < t_rest)
        th[e1] = self._h(t[e1], ic[e1], t_rest[e1], th_ic, 0.0, w_ic, 0.0)
        sw = np.isfinite(to) & (t >= to)
        if np.any(sw):
            kn = np.minimum(k[sw] + 1, len(f.ic_s) - 1)
            t_to, t_ic = to[sw], f.ic_s[kn]
            t_max = t_to + 0.35 * (t_ic - t_to)
            ts = t[sw]
            th[sw] = np.where(
                ts < t_max,
                self._h(ts, t_to, t_max, th_to, th_max, w_to[sw], 0.0),
                self._h(ts, t_max, t_ic, th_max, th_ic, 0.0, w_ic),
            )
        return th

    def ankle_truth(self, side: str) -> AnkleTruth:
        """True maximum ankle dorsiflexion (shank angle − foot plantar flexion) per contact."""
        f = self._feet[side]
        ok = np.isfinite(f.ic_s) & np.isfinite(f.to_s)
        out = []
        for ic, to in zip(f.ic_s[ok], f.to_s[ok], strict=True):
            t = np.linspace(ic, to, 400)
            pitch, _ = self._pitch_and_pos(f, t)  # toe-up positive = dorsiflexion of the foot
            out.append(float(np.max(np.rad2deg(self._shank_angle(f, t) + pitch))))
        return AnkleTruth(f.ic_s[ok], np.asarray(out))

    def render_pod(
        self, side: str, t_s: NDArray[np.float64], placement: str = "ankle"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """A pod on the ankle or shank of ``side``: acc (n, 3) m/s², gyr (n, 3) deg/s.

        Frame: the shank's (x forward, y left, z up along the shank; equal to the foot frame when
        standing), so ``gyr_y > 0`` = knee moving forward over the ankle. Position = the ankle
        joint (moving with the foot) + :data:`POD_OFFSET_M` rotated with the shank. Chunked
        rendering gives the same signals as one call (a generator per side and placement).
        """
        if placement not in POD_OFFSET_M:
            raise ValueError(f"placement must be one of {tuple(POD_OFFSET_M)}")
        p = self.params
        f = self._feet[side]
        t = np.asarray(t_s, dtype=np.float64)
        off = np.asarray(POD_OFFSET_M[placement])

        def pos_at(tt: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            th = self._shank_angle(f, tt)
            _, ankle = self._pitch_and_pos(f, tt, _ANKLE)
            # shank axes in the world: x_s = (cos th, -sin th), z_s = (sin th, cos th)
            c, s_ = np.cos(th), np.sin(th)
            pos = ankle + np.stack([off[0] * c + off[1] * s_, -off[0] * s_ + off[1] * c], -1)
            return th, pos

        th, pos = pos_at(t)
        th_p, _ = pos_at(t + _H_S)
        th_m, _ = pos_at(t - _H_S)
        # The keyframed paths are only C1, so their acceleration jumps at keyframes (swing apex,
        # TO): a real leg and the soft tissue under a strap do not. A second difference over
        # ±_H_POD_S is the acceleration averaged with a triangular window of that half-width.
        _, pos_pp = pos_at(t + _H_POD_S)
        _, pos_mm = pos_at(t - _H_POD_S)
        acc_w = (pos_pp - 2 * pos + pos_mm) / (_H_POD_S * _H_POD_S)
        acc_w[:, 1] += G_M_S2
        pulse = p.shank_impact_ratio * self._impact(f, t)
        if p.contra_impact_ratio > 0.0:
            other = self._feet["right" if side == "left" else "left"]
            pulse = pulse + p.contra_impact_ratio * self._impact(other, t)
        acc_w[:, 1] += pulse
        acc_w[:, 0] -= 0.3 * pulse
        c, s_ = np.cos(th), np.sin(th)
        ax = c * acc_w[:, 0] - s_ * acc_w[:, 1]
        az = s_ * acc_w[:, 0] + c * acc_w[:, 1]
        # Soft-tissue wobble under the strap after each landing (damped, mostly along the shank
        # and fore-aft), a fraction of the impact size, lasting ~100 ms.
        k = np.clip(np.searchsorted(f.ic_s, t, side="right") - 1, 0, len(f.ic_s) - 1)
        since = t - f.ic_s[k]
        ok = np.isfinite(since) & (since >= 0) & (since < 0.2)
        s0 = np.where(ok, since, 0.0)
        amp = np.where(ok, p.soft_tissue_ratio * p.shank_impact_ratio * f.impact_m_s2[k], 0.0)
        wob = amp * np.exp(-s0 / 0.03) * np.sin(2 * np.pi * p.soft_tissue_hz * s0)
        ax += 0.7 * wob
        az += wob
        omega = (th_p - th_m) / (2 * _H_S)
        mirror = 1.0 if side == "left" else -1.0
        lateral = mirror * np.sin(2 * np.pi * 1.5 * t) * (np.abs(omega) > 0.5)
        acc = np.column_stack([ax, 1.0 * lateral, az])
        gyr = np.column_stack([10.0 * lateral, np.rad2deg(omega), 8.0 * lateral])
        key = (side, placement)
        rng = self._pod_rng.get(key)
        if rng is None:
            place = 0 if placement == "ankle" else 1
            rng = np.random.default_rng([self._seed, 0 if side == "left" else 1, place])
            self._pod_rng[key] = rng
        noise = rng.standard_normal((t.size, 6))
        acc += p.acc_noise_m_s2 * noise[:, :3]
        gyr += p.gyr_noise_deg_s * noise[:, 3:]
        return acc, gyr

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
        pulse = self._impact(f, t)
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
