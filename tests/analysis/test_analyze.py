"""Offline analysis API and ``footpod analyze``: rotated axes, units, t column, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_data import FS, pd, sim_frames, write_csv

from sensor_service import cli
from sensor_service.analysis import STEP_COLUMNS, AnalysisError, analyze, combine_feet
from sensor_service.load import AthleteParams
from sensor_service.sim.gait import GaitSimulator, RunnerParams


def _match(ic_s: np.ndarray, truth_ic: np.ndarray, tol: float = 0.04) -> np.ndarray:
    j = np.clip(np.searchsorted(truth_ic, ic_s), 1, truth_ic.size - 1)
    near = np.where(np.abs(truth_ic[j] - ic_s) < np.abs(truth_ic[j - 1] - ic_s), j, j - 1)
    return np.where(np.abs(truth_ic[near] - ic_s) <= tol, near, -1)


def test_foot_pod_rotated_g_and_rad_s_with_t_column() -> None:
    left, _, sim = sim_frames("foot")
    table = analyze(left, placement="foot", acc_unit="g", gyro_unit="rad/s")
    assert tuple(table.columns) == STEP_COLUMNS
    assert table.attrs["method"] == "gyro"
    truth = sim.truth("left")
    idx = _match(table["ic_s"].to_numpy(), truth.ic_s)
    assert (idx >= 0).mean() >= 0.97
    err = table["gct_ms"].to_numpy()[idx >= 0] - truth.gct_ms[idx[idx >= 0]]
    assert np.median(np.abs(err)) <= 5.0
    assert (table["strike_pattern"] == "rearfoot").mean() >= 0.9


@pytest.mark.parametrize("placement", ["ankle", "shank"])
def test_acc_only_placements(placement: str) -> None:
    left, _, sim = sim_frames(placement)
    table = analyze(left, placement=placement, acc_unit="g")
    assert table.attrs["method"] == "acc"
    assert table["strike_pattern"].eq("unknown").all()
    truth = sim.truth("left")
    idx = _match(table["ic_s"].to_numpy(), truth.ic_s)
    assert (idx >= 0).sum() >= 0.8 * truth.ic_s.size


def test_jittery_t_is_resampled_and_gaps_not_bridged() -> None:
    left, _, _ = sim_frames("foot")
    df = left.copy()
    rng = np.random.default_rng(1)
    df["t"] = df["t"] + rng.uniform(-0.3, 0.3, len(df)) / FS
    df = df.drop(index=range(4000, 4400)).reset_index(drop=True)  # a 1 s hole
    table = analyze(df, placement="foot", acc_unit="g", gyro_unit="rad/s")
    assert table.attrs["resampled"]
    hole = (table["ic_s"] < 4400 / FS) & (table["to_s"] > 4000 / FS)
    assert not hole.any()
    assert len(table) > 20


def test_two_feet_pairing_and_loads() -> None:
    left, right, _ = sim_frames("foot")
    athlete = AthleteParams(mass_kg=65.0, height_m=1.75)
    lt = analyze(left, acc_unit="g", gyro_unit="rad/s")
    rt = analyze(right, acc_unit="g", gyro_unit="rad/s")
    both, balance = combine_feet(lt, rt, athlete=athlete, speed_m_s=3.8)
    assert set(both["side"]) == {"left", "right"}
    assert both["cadence_spm"].median() == pytest.approx(180.0, rel=0.03)
    assert 40.0 <= balance.left_share_pct <= 60.0
    fl = both["flight_ms"].dropna()
    assert (fl > 0).mean() > 0.95
    assert 5.0 <= both["at_force_est_bw"].median() <= 10.0
    assert both["at_impulse_cum_est_bw_s"].is_monotonic_increasing
    assert both["k_leg_kn_m"].notna().mean() > 0.9


def _run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    assert "sensor_service.commands.analyze" in cli.COMMAND_MODULES
    return cli.main(argv)


def test_cli_exact_invocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    left, _, sim = sim_frames("ankle")
    df = left.drop(columns=["t"])
    src = write_csv(df, tmp_path)
    out = tmp_path / "steps.csv"
    argv = ["analyze", str(src), "--fs", "400", "--placement", "ankle", "--acc-unit", "g"]
    assert _run_cli([*argv, "--out", str(out)], monkeypatch) == 0
    steps = pd.read_csv(out)
    assert {"ic_s", "to_s", "gct_ms"} <= set(steps.columns)
    assert len(steps) >= 0.8 * sim.truth("left").ic_s.size
    assert (steps["to_s"] > steps["ic_s"]).all()


@pytest.mark.parametrize(
    ("mutate", "extra", "message"),
    [
        (lambda d: d.drop(columns=["az"]), [], "missing column"),
        (lambda d: d, ["--acc-unit", "m/s2"], "wrong unit"),
        (lambda d: d.iloc[:200], [], "too short"),
        (lambda d: d.drop(columns=["t"]), [], "no sampling rate"),
    ],
)
def test_cli_one_line_errors(  # type: ignore[no-untyped-def]
    mutate, extra, message, tmp_path, monkeypatch, capsys
) -> None:
    left, _, _ = sim_frames("ankle")
    src = write_csv(mutate(left), tmp_path)
    argv = ["analyze", str(src), "--placement", "ankle", "--out", str(tmp_path / "o.csv")]
    if "--acc-unit" not in extra:
        extra = [*extra, "--acc-unit", "g"]
    assert _run_cli([*argv, *extra], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "\n" not in err


def test_gyro_unit_mistake_is_caught() -> None:
    left, _, _ = sim_frames("foot")
    with pytest.raises(AnalysisError, match="rad/s"):
        analyze(left, acc_unit="g", gyro_unit="deg/s")


def test_missing_file() -> None:
    with pytest.raises(AnalysisError, match="no such file"):
        analyze("/nonexistent/rec.csv", sampling_rate_hz=100.0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_real_walking_rotated_through_analyze(side: str) -> None:
    """The real gaitmap foot recording, strapped on at a random rotation: the mounting is
    estimated from the data and the steps match motion capture (figures as without rotation)."""
    from kernel_eval import accuracy  # tests/kernels helper (analysis_data puts it on the path)

    from sensor_service.kernels._gaitmap_data import (
        GAITMAP_DIR,
        GAITMAP_SAMPLING_RATE_HZ,
        load_gaitmap_foot,
    )

    if not (GAITMAP_DIR / "imu_sample.csv").is_file():
        pytest.skip("gaitmap walking sample not found")
    fs = GAITMAP_SAMPLING_RATE_HZ
    foot = load_gaitmap_foot(side)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    q = q if np.linalg.det(q) > 0 else -q
    acc, gyr = foot.acc_m_s2 @ q.T, foot.gyr_deg_s @ q.T
    df = pd.DataFrame(
        {"t": np.arange(len(acc)) / fs, "ax": acc[:, 0], "ay": acc[:, 1], "az": acc[:, 2]}
    )
    df["gx"], df["gy"], df["gz"] = gyr.T
    table = analyze(df, placement="foot")
    assert table.attrs["mounting"].startswith("estimated")
    truth_ic = foot.ic_idx / fs
    truth_to = np.full(truth_ic.size, np.nan)
    for ic, to in foot.contacts:
        truth_to[foot.ic_idx == ic] = to / fs
    inside = (table["ic_s"] >= truth_ic[0] - 0.1) & (table["ic_s"] <= truth_ic[-1] + 0.1)
    det = table[inside]
    res = accuracy(det["ic_s"].to_numpy(), det["to_s"].to_numpy(), truth_ic, truth_to, 0.1)
    # measured: F1 0.983 both feet, TO median |err| 6 ms
    assert res.f1 >= 0.95
    assert np.median(np.abs(res.to_err_ms)) <= 8.0


def test_long_recording_with_progress_bar() -> None:
    """A 25-minute file goes through in chunks (with a progress bar) and gives the same steps
    as the one-call detector."""
    from sensor_service.kernels import detect_steps
    from sensor_service.sim.gait import G_M_S2

    left, _, _ = sim_frames("ankle")
    tiled = pd.concat([left.drop(columns=["t"])] * 60, ignore_index=True)  # 60 runs in a row
    assert len(tiled) > 500_000
    table = analyze(tiled, sampling_rate_hz=FS, placement="ankle", acc_unit="g", progress=True)
    whole = detect_steps(
        tiled[["ax", "ay", "az"]].to_numpy() * G_M_S2, None, sampling_rate_hz=FS, placement="ankle"
    )
    assert len(table) == whole.size > 60 * 20
    np.testing.assert_allclose(table["ic_s"].to_numpy(), whole["ic_idx"] / FS)


@pytest.mark.parametrize(
    ("activity", "low_ms", "high_ms"), [("walking", 550, 850), ("running", 0, 450)]
)
def test_cli_activity_tunes_the_acc_only_detector_on_real_walking(
    activity: str, low_ms: float, high_ms: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real walking, gyro dropped, ankle-style analysis: only the walking preset gets the
    ~700 ms walking contacts right (motion capture median ≈ 700 ms); the running defaults
    cannot, which is why the option exists."""
    from sensor_service.kernels._gaitmap_data import GAITMAP_DIR, load_gaitmap_foot

    if not (GAITMAP_DIR / "imu_sample.csv").is_file():
        pytest.skip("gaitmap walking sample not found")
    foot = load_gaitmap_foot("left")
    df = pd.DataFrame(foot.acc_m_s2, columns=["ax", "ay", "az"])
    src = write_csv(df, tmp_path)
    out = tmp_path / "steps.csv"
    argv = ["analyze", str(src), "--fs", "204.8", "--placement", "ankle", "--activity", activity]
    assert _run_cli([*argv, "--out", str(out)], monkeypatch) == 0
    gct = pd.read_csv(out)["gct_ms"]
    assert low_ms <= gct.median() <= high_ms


@pytest.mark.parametrize("placement", ["foot", "ankle"])
def test_units_are_inferred_when_not_given(placement: str) -> None:
    """The files are in g and rad/s; without --acc-unit / --gyro-unit both are inferred, and the
    steps equal those of the explicit units. The same data in m/s² and deg/s is read as such."""
    left, _, _ = sim_frames(placement)
    explicit = analyze(left, placement=placement, acc_unit="g", gyro_unit="rad/s")
    inferred = analyze(left, placement=placement)
    assert inferred.attrs["acc_unit"] == "g"
    assert inferred.attrs["gyro_unit"] == ("rad/s" if placement == "foot" else None)
    pd.testing.assert_frame_equal(inferred, explicit)
    si = left.copy()
    si[["ax", "ay", "az"]] *= 9.80665
    if placement == "foot":
        si[["gx", "gy", "gz"]] = np.rad2deg(si[["gx", "gy", "gz"]])
    as_si = analyze(si, placement=placement)
    assert (as_si.attrs["acc_unit"], as_si.attrs["gyro_unit"]) == (
        "m/s2",
        "deg/s" if placement == "foot" else None,
    )
    np.testing.assert_allclose(as_si["gct_ms"], explicit["gct_ms"], atol=0.5)


def test_unit_that_fits_neither_is_an_error() -> None:
    left, _, _ = sim_frames("ankle")
    milli_g = left.copy()
    milli_g[["ax", "ay", "az"]] *= 1000.0  # counts of mg: neither g nor m/s²
    with pytest.raises(AnalysisError, match="neither about 1 g"):
        analyze(milli_g, placement="ankle")


@pytest.mark.parametrize("decimals", [2, 3])
def test_rounded_timestamps_are_read_as_a_uniform_clock(decimals: int) -> None:
    """t rounded to 10 ms (ties at 400 Hz) or 1 ms (steps of 2 and 3 ms): the samples are
    uniform, so the table equals the one from --fs alone, with or without --fs."""
    left, _, _ = sim_frames("ankle")
    base = analyze(left.drop(columns=["t"]), sampling_rate_hz=FS, placement="ankle")
    rounded = left.assign(t=left["t"].round(decimals))
    for fs in (None, FS):
        table = analyze(rounded, sampling_rate_hz=fs, placement="ankle")
        assert not table.attrs["resampled"]
        assert table.attrs["sampling_rate_hz"] == pytest.approx(FS, rel=1e-4)
        np.testing.assert_allclose(table["ic_s"], base["ic_s"], atol=1e-3)
        np.testing.assert_allclose(table["gct_ms"], base["gct_ms"], atol=0.5)


def test_timestamps_out_of_order_or_tied_with_a_hole_are_errors() -> None:
    left, _, _ = sim_frames("ankle")
    swapped = left.copy()
    swapped.loc[10, "t"], swapped.loc[11, "t"] = left.loc[11, "t"], left.loc[10, "t"]
    with pytest.raises(AnalysisError, match="must increase"):
        analyze(swapped, placement="ankle")
    holed = left.drop(index=range(4000, 4400)).assign(t=lambda d: d["t"].round(2))
    with pytest.raises(AnalysisError, match="pass --fs"):
        analyze(holed, placement="ankle")


def _ankle_at(fs: float) -> tuple[pd.DataFrame, np.ndarray]:
    sim = GaitSimulator(RunnerParams(cadence_spm=170.0, gct_ms=240.0), duration_s=20.0, seed=3)
    t = np.arange(int(sim.end_s * fs)) / fs
    acc, _ = sim.render_pod("left", t, "ankle")
    df = pd.DataFrame({"t": t + 50.0, "ax": acc[:, 0], "ay": acc[:, 1], "az": acc[:, 2]})
    return df, sim.truth("left").ic_s


@pytest.mark.parametrize("fs", [104.0, 208.0, 833.0])
def test_timestamps_in_whole_ms_at_rates_that_are_not_whole_ms(fs: float) -> None:
    """104 Hz in whole ms has steps of 9 and 10 ms (median 10: 100 Hz). The rate comes from
    the span, the samples are taken as they are, and the steps equal those of --fs."""
    df, _ = _ankle_at(fs)
    base = analyze(df.drop(columns=["t"]), sampling_rate_hz=fs, placement="ankle")
    table = analyze(df.assign(t=df["t"].round(3)), placement="ankle")
    assert table.attrs["sampling_rate_hz"] == pytest.approx(fs, rel=2e-4)
    assert not table.attrs["resampled"]
    assert len(table) == len(base) > 10
    np.testing.assert_allclose(table["ic_s"], base["ic_s"], atol=1e-3)  # rate estimated: ±0.2 ms


def test_gyro_columns_present_but_empty_run_the_acc_only_method() -> None:
    left, _, _ = sim_frames("foot")
    empty = left.assign(gx=np.nan, gy=np.nan, gz=np.nan)
    table = analyze(empty, placement="foot")
    assert table.attrs["method"] == "acc"
    assert "gx,gy,gz are empty" in " ".join(table.attrs["warnings"])
    assert len(table) > 10


def test_dead_gyro_is_reported_as_such() -> None:
    left, _, _ = sim_frames("foot")
    with pytest.raises(AnalysisError, match="is the gyro working"):
        analyze(left.assign(gx=0.0, gy=0.0, gz=0.0), placement="foot")


def test_blank_rows_with_t_are_dropped_and_counted() -> None:
    left, _, _ = sim_frames("ankle")
    blank = pd.DataFrame(np.nan, index=[0, 1], columns=left.columns)
    holed = pd.concat([left.iloc[:5000], blank, left.iloc[5000:]], ignore_index=True)
    table = analyze(holed, placement="ankle")
    assert table.attrs["warnings"] == ["2 blank row(s) dropped"]
    pd.testing.assert_frame_equal(table, analyze(left, placement="ankle"), check_like=True)


def test_low_rate_is_warned() -> None:
    df, _ = _ankle_at(50.0)
    table = analyze(df, placement="ankle")
    assert any("below 100 Hz" in w for w in table.attrs["warnings"])


def test_cli_mass_without_height_names_the_flags(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch, capsys
) -> None:
    left, _, _ = sim_frames("ankle")
    src = write_csv(left, tmp_path)
    argv = ["analyze", str(src), "--placement", "ankle", "--mass-kg", "70", "--out"]
    assert _run_cli([*argv, str(tmp_path / "o.csv")], monkeypatch) == 2
    assert "--height-m or --leg-length-m" in capsys.readouterr().err


def test_headers_with_units_and_a_time_column_named_time() -> None:
    left, _, _ = sim_frames("ankle")
    renamed = left.rename(columns={"t": "Time", "ax": "AX [g]", "ay": " ay (g)", "az": "az"})
    pd.testing.assert_frame_equal(
        analyze(renamed, placement="ankle"), analyze(left, placement="ankle")
    )


def test_two_time_columns_are_an_error() -> None:
    left, _, _ = sim_frames("ankle")
    with pytest.raises(AnalysisError, match="more than one column reads as t"):
        analyze(left.assign(time=left["t"]), placement="ankle")


def test_rate_from_an_exact_t_column_is_the_exact_rate() -> None:
    """Epoch-second timestamps of a 500 Hz clock give 500.0000016 Hz in float64; the rate is
    read as 500, so a window of 5 ms is 2.5 → 2 samples, as with --fs 500 (the same steps)."""
    df, _ = _ankle_at(500.0)
    df = df.assign(t=1764140000.123 + np.arange(len(df)) / 500.0)
    table = analyze(df, placement="ankle")
    assert table.attrs["sampling_rate_hz"] == 500.0
    pd.testing.assert_frame_equal(
        table, analyze(df.drop(columns=["t"]), sampling_rate_hz=500.0, placement="ankle")
    )
