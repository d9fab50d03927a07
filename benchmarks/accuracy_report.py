"""Generate ``docs/accuracy.md`` (and its plots): contact-time accuracy per condition.

Run: ``.venv/bin/python benchmarks/accuracy_report.py`` (about 15 s on 2 cores; the plots need
``pip install -e '.[bench]'``). It runs the same detectors as ``footpod analyze`` on simulated
runs (``sensor_service.sim.gait``) across cadences 150–200 spm, contact times 160–320 ms and all
strike patterns, with noise, clipping, glitches, soft tissue and mounting rotations, for a foot
pod with gyro and for ankle and shank pods with accelerometer only; and on the real gaitmap
walking recording (../shared/data).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "kernels"))

from kernel_eval import REALISTIC, accuracy  # noqa: E402  (test helpers: matching, sim options)

from sensor_service.analysis import Recording, analyze_recording  # noqa: E402
from sensor_service.kernels import AccEventParams, detect_steps  # noqa: E402
from sensor_service.kernels._gaitmap_data import (  # noqa: E402
    GAITMAP_DIR,
    GAITMAP_SAMPLING_RATE_HZ,
    load_gaitmap_foot,
)
from sensor_service.sim.gait import G_M_S2, GaitSimulator, RunnerParams  # noqa: E402

HELD_OUT = 9000
GRID = ((150.0, 320.0), (160.0, 280.0), (175.0, 240.0), (190.0, 200.0), (200.0, 160.0))
STRIKES = ("rearfoot", "midfoot", "forefoot")
TOL_S = 0.04


@dataclass(frozen=True)
class Condition:
    name: str
    placement: str  # foot (acc+gyro) | ankle | shank (acc only)
    fs: float = 400.0
    runner: dict[str, object] | None = None  # RunnerParams overrides
    clip_g: float | None = None
    glitches_per_s: float = 0.0
    rotate: bool = False  # random pod orientation (foot: mounting estimated; acc-only: none needed)
    fixed_gct_ms: float | None = None  # the naive baseline: IC + fixed contact time
    #: Cut the recording in mid-run at both ends (from 4 s to 5 s before the end: no standing
    #: start or stop); truth is the contacts whose IC and TO both lie inside.
    cut_mid_run: bool = False
    note: str = ""
    #: First simulator seed. 100: the seeds the foot kernel's defaults were tuned on (107–205);
    #: HELD_OUT: seeds never looked at while tuning.
    seed_base: int = 100


@dataclass
class Result:
    cond: Condition
    tp: int = 0
    fp: int = 0
    fn: int = 0
    err: list[NDArray[np.float64]] | None = None

    def add(self, tp: int, fp: int, fn: int, err: NDArray[np.float64]) -> None:
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn
        (self.err if self.err is not None else []).append(err)

    @property
    def errors(self) -> NDArray[np.float64]:
        return np.concatenate(self.err) if self.err else np.zeros(0)

    def row(self) -> str:
        e = self.errors
        p = self.tp / max(1, self.tp + self.fp)
        r = self.tp / max(1, self.tp + self.fn)
        f1 = 2 * self.tp / max(1, 2 * self.tp + self.fp + self.fn)
        head = f"| {self.cond.name} | {self.tp + self.fn} | {p:.3f} | {r:.3f} | {f1:.3f} | "
        if e.size == 0:
            return head + "n/a | n/a | n/a |"
        med, p95 = np.median(np.abs(e)), np.percentile(np.abs(e), 95)
        return head + f"{np.median(e):+.1f} | {med:.1f} | {p95:.1f} |"


def _rotation(seed: int) -> NDArray[np.float64]:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q if np.linalg.det(q) > 0 else -q


def run_condition(cond: Condition, seeds: int = 1) -> Result:
    res = Result(cond, err=[])
    k = 0
    for strike in STRIKES:
        for cadence, gct in GRID:
            for seed in range(seeds):
                k += 1
                params = RunnerParams(
                    strike=strike,  # type: ignore[arg-type]
                    cadence_spm=cadence,
                    gct_ms=gct,
                    speed_m_s=2.5 + cadence / 100.0,
                    **(cond.runner or {}),  # type: ignore[arg-type]
                )
                sim = GaitSimulator(params, duration_s=20.0, seed=cond.seed_base + 7 * k + seed)
                t = np.arange(int(sim.end_s * cond.fs)) / cond.fs
                for side in ("left", "right"):
                    if cond.placement == "foot":
                        acc, gyr = sim.render(side, t)
                    else:
                        acc, _ = sim.render_pod(side, t, cond.placement)
                        gyr = None
                    clip = None
                    if cond.clip_g is not None:
                        clip = cond.clip_g * G_M_S2
                        acc = np.clip(acc, -clip, clip)
                    if cond.glitches_per_s:
                        rng = np.random.default_rng(k)
                        n_g = int(cond.glitches_per_s * t[-1])
                        idx = rng.integers(0, t.size, n_g)
                        acc = acc.copy()
                        acc[idx] += rng.normal(0, 4 * G_M_S2, (n_g, 3))
                    if cond.rotate:
                        rot = _rotation(k)
                        acc = acc @ rot.T
                        gyr = None if gyr is None else gyr @ rot.T
                    truth = sim.truth(side)
                    truth_ic, truth_to = truth.ic_s, truth.to_s
                    t0 = 0.0
                    if cond.cut_mid_run:
                        i0, i1 = round(4.0 * cond.fs), round((sim.end_s - 5.0) * cond.fs)
                        acc = np.ascontiguousarray(acc[i0:i1])
                        gyr = None if gyr is None else np.ascontiguousarray(gyr[i0:i1])
                        t0, t1 = i0 / cond.fs, (i1 - 1) / cond.fs
                        inside = (truth_ic > t0) & (truth_to < t1)
                        truth_ic, truth_to = truth_ic[inside], truth_to[inside]
                    if cond.rotate:
                        table = analyze_recording(
                            Recording(np.ascontiguousarray(acc), gyr, cond.fs, False),
                            placement=cond.placement,
                            clip_limit_m_s2=clip,
                        )
                        ic_s, to_s = table["ic_s"].to_numpy(), table["to_s"].to_numpy()
                    else:
                        steps = detect_steps(
                            acc,
                            gyr,
                            sampling_rate_hz=cond.fs,
                            placement=cond.placement,
                            clip_limit_m_s2=clip,
                        )
                        ic_s, to_s = steps["ic_idx"] / cond.fs, steps["to_idx"] / cond.fs
                    ic_s, to_s = ic_s + t0, to_s + t0
                    if cond.fixed_gct_ms is not None:
                        to_s = ic_s + cond.fixed_gct_ms / 1000.0
                    r = accuracy(ic_s, to_s, truth_ic, truth_to, TOL_S)
                    res.add(r.tp, r.fp, r.fn, r.gct_err_ms)
    return res


NOISY_FOOT = {
    **REALISTIC,
    "acc_noise_m_s2": 1.0,
    "gyr_noise_deg_s": 8.0,
    "step_cv": 0.05,
    "gct_cv": 0.08,
}


def conditions() -> list[Condition]:
    out = [
        Condition("foot acc+gyro, original sim", "foot"),
        Condition("foot acc+gyro, realistic touchdown", "foot", runner=REALISTIC),
        Condition(
            "foot acc+gyro, 4× noise, 5 %/8 % step/contact variability",
            "foot",
            runner={**NOISY_FOOT},
        ),
        Condition(
            "foot acc+gyro, 40 g impacts clipped at ±16 g",
            "foot",
            runner={**REALISTIC, "impact_g": 40.0},
            clip_g=16.0,
        ),
        Condition(
            "foot acc+gyro, pod rotated (mounting estimated)", "foot", runner=REALISTIC, rotate=True
        ),
        Condition(
            "foot acc+gyro, cut in mid-run (no standing start or stop)",
            "foot",
            runner=REALISTIC,
            cut_mid_run=True,
        ),
        Condition("foot acc+gyro, 104 Hz", "foot", fs=104.0, runner=REALISTIC),
        Condition("foot acc+gyro, 833 Hz", "foot", fs=833.0, runner=REALISTIC),
        # held out: other seeds, and touchdown variants the defaults were not tuned on
        Condition(
            "foot acc+gyro, realistic touchdown, held-out seeds",
            "foot",
            runner=REALISTIC,
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, 4× noise, 5 %/8 % variability, held-out seeds",
            "foot",
            runner={**NOISY_FOOT},
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, 104 Hz, held-out seeds",
            "foot",
            fs=104.0,
            runner=REALISTIC,
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, 104 Hz, 4× noise, held-out seeds",
            "foot",
            fs=104.0,
            runner={**NOISY_FOOT},
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, 208 Hz, held-out seeds",
            "foot",
            fs=208.0,
            runner=REALISTIC,
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, touchdown at 200 deg/s, held-out seeds",
            "foot",
            runner={**REALISTIC, "touchdown_plantarflex_deg_s": 200.0},
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, 10 ms impact onset, held-out seeds",
            "foot",
            runner={**REALISTIC, "impact_onset_ms": 10.0},
            seed_base=HELD_OUT,
        ),
        Condition(
            "foot acc+gyro, weak 3 g impacts (all strikes), held-out seeds",
            "foot",
            runner={**REALISTIC, "impact_g": 3.0},
            seed_base=HELD_OUT,
        ),
    ]
    for pl in ("ankle", "shank"):
        out += [
            Condition(f"{pl} acc-only", pl, runner=REALISTIC),
            Condition(
                f"{pl} acc-only, 4× noise, 5 %/8 % variability",
                pl,
                runner={**REALISTIC, "acc_noise_m_s2": 1.0, "step_cv": 0.05, "gct_cv": 0.08},
            ),
            Condition(
                f"{pl} acc-only, 30 g impacts clipped at ±8 g",
                pl,
                runner={**REALISTIC, "impact_g": 30.0},
                clip_g=8.0,
            ),
            Condition(
                f"{pl} acc-only, one-sample glitches (1/s, 4 g)",
                pl,
                runner=REALISTIC,
                glitches_per_s=1.0,
            ),
            Condition(
                f"{pl} acc-only, 2× soft tissue, 2× other-foot impact",
                pl,
                runner={**REALISTIC, "soft_tissue_ratio": 0.8, "contra_impact_ratio": 0.3},
            ),
            Condition(f"{pl} acc-only, pod rotated", pl, runner=REALISTIC, rotate=True),
            Condition(
                f"{pl} acc-only, cut in mid-run (no standing start or stop)",
                pl,
                runner=REALISTIC,
                cut_mid_run=True,
            ),
            Condition(f"{pl} acc-only, 104 Hz", pl, fs=104.0, runner=REALISTIC),
            Condition(f"{pl} acc-only, 208 Hz", pl, fs=208.0, runner=REALISTIC),
            Condition(f"{pl} acc-only, 833 Hz", pl, fs=833.0, runner=REALISTIC),
            Condition(
                f"{pl} acc-only, original (cubic) kinematics",
                pl,
                runner={"impact_onset_ms": 5.0, "touchdown_plantarflex_deg_s": 100.0},
            ),
            Condition(
                f"{pl} baseline: same ICs + fixed 270 ms", pl, runner=REALISTIC, fixed_gct_ms=270.0
            ),
        ]
    return out


def walking_rows() -> list[str]:
    if not (GAITMAP_DIR / "imu_sample.csv").is_file():
        return ["| (gaitmap sample not found) | | | | | | | |"]
    rows = []
    fs = GAITMAP_SAMPLING_RATE_HZ
    walking = AccEventParams.for_walking()
    for label, gyro, params in (
        ("foot acc+gyro", True, None),
        ("foot acc-only, walking window", False, walking),
    ):
        for side in ("left", "right"):
            foot = load_gaitmap_foot(side)
            steps = detect_steps(
                foot.acc_m_s2,
                foot.gyr_deg_s if gyro else None,
                sampling_rate_hz=fs,
                acc_params=params,
            )
            truth_ic = foot.ic_idx
            truth_to = np.full(truth_ic.size, np.nan)
            for ic, to in foot.contacts:
                truth_to[truth_ic == ic] = to
            lo, hi = truth_ic[0] - 0.1 * fs, truth_ic[-1] + 0.1 * fs
            det = steps[(steps["ic_idx"] >= lo) & (steps["ic_idx"] <= hi)]
            r = accuracy(det["ic_idx"] / fs, det["to_idx"] / fs, truth_ic / fs, truth_to / fs, 0.1)
            e = r.gct_err_ms
            p = r.tp / max(1, r.tp + r.fp)
            rc = r.tp / max(1, r.tp + r.fn)
            rows.append(
                f"| {label}, {side} | {r.tp + r.fn} | {p:.3f} | {rc:.3f} | {r.f1:.3f} | "
                f"{np.median(e):+.1f} | {np.median(np.abs(e)):.1f} | "
                f"{np.percentile(np.abs(e), 95):.1f} | IC {np.median(r.ic_err_ms):+.1f} / "
                f"TO {np.median(r.to_err_ms):+.1f} |"
            )
    return rows


def plot(results: list[Result], out_dir: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        print("plots skipped: pip install -e '.[bench]' for matplotlib", file=sys.stderr)
        return []
    names = [r.cond.name for r in results if r.errors.size]
    data = [np.clip(r.errors, -60, 60) for r in results if r.errors.size]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(names) + 1.2))
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    for x in (-15, 15):
        ax.axvline(x, color="r", lw=0.6, ls="--")
    ax.set_xlabel("contact-time error, ms (box: quartiles, whiskers: 5–95 %; clipped at ±60)")
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_gct_error.png", dpi=110)
    plt.close(fig)

    # one ankle stride series with the events
    sim = GaitSimulator(
        RunnerParams(strike="rearfoot", cadence_spm=170.0, gct_ms=250.0, **REALISTIC),  # type: ignore[arg-type]
        duration_s=8.0,
        seed=4,
    )
    fs = 400.0
    t = np.arange(int(sim.end_s * fs)) / fs
    acc, _ = sim.render_pod("left", t, "ankle")
    steps = detect_steps(acc, None, sampling_rate_hz=fs, placement="ankle")
    tr = sim.truth("left")
    up = acc @ (acc.mean(axis=0) / np.linalg.norm(acc.mean(axis=0)))
    m = (t > 4.0) & (t < 6.0)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(t[m], np.linalg.norm(acc[m], axis=1) / G_M_S2, lw=0.8, label="|acc| (g)")
    ax.plot(t[m], up[m] / G_M_S2, lw=0.8, label="acc along mean up (g)")
    for i, (ic, to) in enumerate(zip(tr.ic_s, tr.to_s, strict=True)):
        if 4.0 < ic < 6.0:
            ax.axvspan(ic, to, color="0.85", label="true contact" if i < 100 and ic < 4.8 else None)
    for ic, to in zip(steps["ic_idx"] / fs, steps["to_idx"] / fs, strict=True):
        if 4.0 < ic < 6.0:
            ax.axvline(ic, color="g", lw=0.8, ls="--")
            ax.axvline(to, color="r", lw=0.8, ls="--")
    ax.set_xlabel("s (dashed: detected IC green, TO red)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_ankle_trace.png", dpi=110)
    plt.close(fig)
    _plot_foot_landings(out_dir / "accuracy_foot_landing.png", plt)
    return ["accuracy_gct_error.png", "accuracy_ankle_trace.png", "accuracy_foot_landing.png"]


def _plot_foot_landings(path: Path, plt: Any) -> None:
    """One realistic-touchdown landing per strike pattern: the signals the foot kernel uses."""
    fs = 400.0
    lag = 2  # jerk_lag_ms 5 ms at 400 Hz
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, strike in zip(axes, STRIKES, strict=True):
        sim = GaitSimulator(
            RunnerParams(strike=strike, cadence_spm=175.0, gct_ms=240.0, **REALISTIC),  # type: ignore[arg-type]
            duration_s=6.0,
            seed=5,
        )
        t = np.arange(int(sim.end_s * fs)) / fs
        acc, gyr = sim.render("left", t)
        steps = detect_steps(acc, gyr, sampling_rate_hz=fs)
        x = np.concatenate([acc, gyr], axis=1)
        sums = x[lag - 1 :] + x[: -(lag - 1)]
        d = sums[2 * lag :] - 2.0 * sums[lag:-lag] + sums[: -2 * lag]
        jerk = np.zeros(t.size)
        jerk[3 * lag - 1 :] = (
            np.linalg.norm(d[:, :3], axis=1) + 0.2 * np.linalg.norm(d[:, 3:], axis=1)
        ) / lag
        first_diff = np.zeros(t.size)
        first_diff[lag:] = np.linalg.norm(acc[lag:] - acc[:-lag], axis=1) + 0.2 * np.linalg.norm(
            gyr[lag:] - gyr[:-lag], axis=1
        )
        tr = sim.truth("left")
        ic, to = tr.ic_s[3], tr.to_s[3]
        m = (t > ic - 0.08) & (t < ic + 0.06)
        ms = (t[m] - ic) * 1000.0
        ax.plot(ms, np.linalg.norm(acc[m], axis=1) / G_M_S2, lw=0.9, label="|acc| (g)")
        ax.plot(ms, gyr[m, 1] / 100.0, lw=0.9, label="pitch velocity (100 deg/s)")
        ax.plot(ms, first_diff[m] / G_M_S2, lw=0.8, ls=":", label="old: first difference (g)")
        ax.plot(ms, jerk[m] / G_M_S2, lw=0.9, ls="--", label="landing jerk: 2nd diff. (g)")
        ax.axvline(0.0, color="k", lw=0.8)
        j = int(np.argmin(np.abs(steps["ic_idx"] / fs - ic)))
        ax.axvline((steps["ic_idx"][j] / fs - ic) * 1000.0, color="g", lw=0.8, ls="--")
        ax.set_title(f"{strike} (TO +{(to - ic) * 1000:.0f} ms)", fontsize=8)
        ax.set_xlabel("ms from true IC (black); detected IC green", fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: The foot acc+gyro rows as docs/accuracy.md reported them at commit 3ed9096, before the
#: landing-feature change (F1, median, p95 of |GCT error| in ms).
FOOT_BEFORE: dict[str, tuple[float, float, float]] = {
    "foot acc+gyro, original sim": (1.000, 0.6, 1.5),
    "foot acc+gyro, realistic touchdown": (1.000, 1.8, 13.4),
    "foot acc+gyro, 4× noise, 5 %/8 % step/contact variability": (0.992, 2.4, 11.9),
    "foot acc+gyro, 40 g impacts clipped at ±16 g": (1.000, 2.0, 4.5),
    "foot acc+gyro, pod rotated (mounting estimated)": (1.000, 1.8, 13.4),
    "foot acc+gyro, 104 Hz": (0.942, 4.3, 21.6),
    "foot acc+gyro, 833 Hz": (1.000, 1.5, 11.1),
}


def _foot_before_after(results: list[Result]) -> str:
    lines = [
        "| condition | F1 before → now | median abs err ms before → now | "
        "p95 abs err ms before → now |",
        "|---|---|---|---|",
    ]
    for r in results:
        before = FOOT_BEFORE.get(r.cond.name)
        e = np.abs(r.errors)
        if before is None or e.size == 0:
            continue
        f1 = 2 * r.tp / max(1, 2 * r.tp + r.fp + r.fn)
        lines.append(
            f"| {r.cond.name} | {before[0]:.3f} → {f1:.3f} | {before[1]:.1f} → "
            f"{np.median(e):.1f} | {before[2]:.1f} → {np.percentile(e, 95):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "accuracy.md")
    ap.add_argument("--quick", action="store_true", help="a few conditions, no file written")
    args = ap.parse_args()
    t0 = time.perf_counter()
    conds = conditions()
    if args.quick:
        conds = [c for c in conds if "acc-only" in c.name and c.name.endswith(("acc-only", "Hz"))]
    results = []
    for c in conds:
        r = run_condition(c)
        results.append(r)
        print(r.row(), flush=True)
    walk = walking_rows()
    for w in walk:
        print(w)
    elapsed = time.perf_counter() - t0
    if args.quick:
        return
    pngs = plot(results, args.out.parent)
    header = (
        "| condition | contacts | precision | recall | F1 | GCT bias ms | median abs err ms | "
        "p95 abs err ms |\n|---|---|---|---|---|---|---|---|"
    )
    text = TEMPLATE.format(
        command="`.venv/bin/python benchmarks/accuracy_report.py`",
        machine=f"{platform.machine()}, python {platform.python_version()}, {elapsed:.0f} s",
        grid=", ".join(f"{c:.0f} spm / {g:.0f} ms" for c, g in GRID),
        sim_table=header + "\n" + "\n".join(r.row() for r in results),
        walk_table=header.replace(
            "p95 abs err ms |", "p95 abs err ms | median IC / TO err ms |"
        ).replace("|---|---|---|---|---|---|---|---|", "|---|---|---|---|---|---|---|---|---|")
        + "\n"
        + "\n".join(walk),
        plots="\n".join(f"![{p}]({p})" for p in pngs)
        or "Not drawn in this run: matplotlib is not installed (`pip install -e '.[bench]'`).",
        foot_table=_foot_before_after(results),
    )
    args.out.write_text(text)
    print(f"wrote {args.out} in {elapsed:.0f} s")


TEMPLATE = """# Accuracy of contact detection

Generated by {command} ({machine}); do not edit by hand.
Errors are detected − true, in ms; contact time (GCT) = TO − IC. A detected contact matches
a true one when their ICs are within 40 ms (100 ms on the walking recording). Each simulated
condition covers the three strike patterns × five (cadence, contact time) pairs
({grid}) × both feet, 20 s each.
Methods: foot pods with gyro use the pitch-velocity kernel (`_event_kernel.py`), ankle and shank
pods the acc-only kernel (`_acc_kernel.py`); both documented in their module docstrings.

## What these figures are — and are not

* **Simulated figures are partly circular.** The simulator (`sensor_service/sim/gait.py`) was
  written by the same project as the detectors, and its events are defined by the kinematics the
  detectors look for: the foot's pitch velocity peaks exactly at the simulated toe-off, the impact
  starts exactly at the simulated IC, and the ankle/shank pod's "up" acceleration dips at TO
  because the simulated foot rolls over the ball with its fastest rotation at TO. The simulated
  rows measure robustness (to noise, clipping, glitches, rotation, sampling rate, strike pattern,
  cadence) and catch regressions; they do **not** measure accuracy on people.
* The "realistic touchdown" options make the simulator less self-confirming (non-zero foot pitch
  velocity at IC, a 5 ms impact onset, continuous accelerations), and the "original (cubic)
  kinematics" rows show how much the acc-only figures depend on the model's smoothness.
* The only real data here is the gaitmap **walking** recording (foot IMUs, motion-capture
  truth, no running, no ankle/shank pod). Its acc-only rows use `AccEventParams.for_walking()`
  (a TO window of 30–75 % of the stride instead of 15–50 %, a longer refractory cap): they check
  the acc-only IC and TO *features* on a real foot, not the running defaults. There the TO
  feature (minimum of the acceleration along the pod's mean "up") lands within +7 / +9 ms
  (median) of motion-capture toe-off. Motion capture marks heel contact ~20–30 ms before the
  impact the detectors see (the same offset appears with the gyro method).
* Real ankle/shank running recordings with force or pressure truth will be scored with
  `footpod analyze`; the target there is median |GCT error| ≤ 15 ms and F1 ≥ 0.98. Nothing in
  this report shows that target is met on real runners; the "baseline: same ICs + fixed 270 ms"
  rows show what the TO detector adds over a fixed contact time on simulated data.

## Foot acc+gyro kernel: what limited it and what changed

The foot rows missed the issue's simulated target (p95 |GCT error| ≤ 8 ms) on the "realistic
touchdown" model. Per-step errors showed **IC, not TO**, was wrong: TO p95 was 2.4 ms, IC p95
13 ms, almost all on **midfoot** landings (IC 10–35 ms early) and a few rearfoot / forefoot
ones (IC 5–9 ms late). Causes, seen in the signals (`accuracy_foot_landing.png`):

1. The landing feature was a *first* difference of acc and gyro over 5 ms. The foot's smooth
   deceleration in late swing (|acc| falling by ~5 g over 50 ms) gives a first difference
   comparable to 30 % of a weak midfoot impact, so the onset walk-back ran into late swing. Now
   the feature is a **second** difference (change of slope) of 5 ms sums: ~1 m/s² for smooth
   motion, tens of m/s² for the impact (Falbriard et al. 2018's jerk-type IC features).
2. The first lobe of a ringing impact can be under half of a later one; `impact_rise_frac`
   0.5 → 0.35 keeps the first lobe.
3. A swing that pauses and resumes (simulated high-cadence midfoot swings; mid-swing knocks on
   real feet) could yield a landing in the air: now no landing is sought before a toe-up rotation
   larger than a forefoot heel drop (`max_heel_drop_deg` 30°, vs −7.9 ± 2.8° forefoot strike
   angle, SCIENCE.md §2).
4. At 104 Hz: landings whose sampled impact peak stayed below 1.5 g were dropped (recall 0.89);
   `impact_min_g` is now 1.2 g and a candidate that fails is skipped, not the step. IC is placed
   sub-sample by extrapolating the rising edge of the landing jerk; TO is the vertex of a
   least-squares parabola over ±5 ms (3 points below 300 Hz), which halves the effect of gyro
   noise on TO.

{foot_table}

**What was tuned on what.** The new defaults (`impact_rise_frac`, `impact_min_g`,
`max_heel_drop_deg`, `to_fit_ms`) were chosen on this report's own seeds (107–205) of the
"realistic touchdown", "4× noise" and "104 Hz" conditions, with the real walking rows as a
guard. The rows marked **held-out seeds** (9007–9105) and the touchdown variants (200 deg/s
touchdown, 10 ms impact onset, 3 g impacts for all strikes) were not used to choose a default:
they were run after the changes above, and once more to try a stricter `impact_noise_factor`
(4–5: fixes the 3 g row, but loses landings with 4× noise), which was rejected, so the defaults
are unchanged by them. `tests/kernels/test_kernel_running_sim.py` checks the target on further
held-out seeds (31–52). Costs of the change: the 5 ms sums move IC ~1 ms later at 833 Hz
(median 1.5 → 2.2 ms there, still well inside the target), and the per-sample sums cost
batch throughput until the kernel was restructured to compute them only inside the IC window
(speed figures: `docs/benchmarks.md`).

**Sampling rate.** At 104 Hz a sample is 9.6 ms and the ~45 Hz impact is sampled about twice per
period: F1 reaches ≥ 0.99 and the median error 3.2–3.3 ms on the realistic model, but p95
|GCT error| is 8.2–8.4 ms, just over the 8 ms target, and with 4× noise recall drops to 0.96 and
p95 to ~10 ms. **The target is not reached at 104 Hz.**
**Use ≥ 200 Hz for a foot pod** (208 Hz meets the target with margin here; Bailey & Harle 2014
advise ≥ 250 Hz for foot trajectories). Remaining weak spot: very weak landings (3 g) at slow
cadence, where a late-swing ripple can pass for the impact (see the held-out rows).

**Recordings cut in mid-run** (the "cut in mid-run" rows: from 4 s to 5 s before the end, no
standing start or stop; truth is every contact whose IC and TO both lie inside). A real trial is
often a slice of a longer run, and the contacts at its edges are where a streaming detector
loses steps: the last contact has no next swing (foot) or next landing (acc-only) to complete
it, and the first landing may have no swing before it in the data. At the end of the stream the
last contact is now kept when its toe-off was seen (foot: the push-off peak and the turn
toe-up after it; acc-only: the whole TO window, a dip of the "up" acceleration, and a recording
that does not end standing); a swing cut short by the start of the data counts; and the first
landing after a start, while no rhythm is known, is replaced by any larger impact in its
refractory period (with these, the acc-only rows gained precision everywhere, also on the real
walking recording). A contact is also held until the landing that completed it can no longer be
replaced: the "original (cubic) kinematics" rows, whose sharp swing events pass for landings and
are replaced, went from p95 148 / 33 ms (ankle / shank) to the figures below, and the real walking
acc-only rows from p95 433 / 338 ms. What remains: contacts whose TO lies within ~70 ms of the
end, and first landings when the data start in late swing (no swing seen at all).

## Simulated running

{sim_table}

## Real walking (gaitmap sample, foot IMUs, motion-capture events)

{walk_table}

## Plots

{plots}
"""


if __name__ == "__main__":
    main()
