"""Streaming: any chunking of feed() gives the batch result; gaps are never bridged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_eval import sim_run
from test_kernel_reference import assert_same_steps

from sensor_service.kernels import STEP_DTYPE, StepDetector, detect_steps
from sensor_service.kernels.reference import reference_detect_steps

FS = 400.0


def _feed_chunked(acc: np.ndarray, gyr: np.ndarray, sizes: list[int], **kw: object) -> np.ndarray:
    det = StepDetector(sampling_rate_hz=FS, **kw)  # type: ignore[arg-type]
    parts = []
    i = 0
    k = 0
    while i < acc.shape[0]:
        n = sizes[k % len(sizes)]
        k += 1
        parts.append(det.feed(acc[i : i + n], gyr[i : i + n]))
        i += n
    parts.append(det.flush())
    assert det.samples_seen == acc.shape[0]
    return np.concatenate(parts)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    strike=st.sampled_from(["rearfoot", "midfoot", "forefoot"]),
)
def test_chunked_equals_batch(sizes: list[int], strike: str) -> None:
    acc, gyr, _ = sim_run(strike, sampling_rate_hz=FS, impact_g=40.0, clip_g=16.0, duration_s=8.0)
    kw = {"clip_limit_m_s2": 16.0 * 9.80665}
    batch = detect_steps(acc, gyr, sampling_rate_hz=FS, **kw)  # type: ignore[arg-type]
    assert batch.size > 8
    assert_same_steps(_feed_chunked(acc, gyr, sizes, **kw), batch)


def test_per_packet_chunks_equal_batch() -> None:
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=FS)
    assert_same_steps(_feed_chunked(acc, gyr, [20]), detect_steps(acc, gyr, sampling_rate_hz=FS))


def test_empty_feed_and_empty_result() -> None:
    det = StepDetector(sampling_rate_hz=FS)
    out = det.feed(np.empty((0, 3)), np.empty((0, 3)))
    assert out.dtype == STEP_DTYPE
    assert out.size == 0
    assert det.flush().size == 0


@settings(max_examples=20, deadline=None)
@given(
    cut=st.integers(min_value=500, max_value=7000),
    missing=st.integers(min_value=1, max_value=600),
)
def test_gap_never_bridged(cut: int, missing: int) -> None:
    """Drop ``missing`` samples at ``cut``: no step spans the hole; a step cut by it is counted."""
    acc, gyr, _ = sim_run("midfoot", sampling_rate_hz=FS, duration_s=8.0)
    cut = min(cut, acc.shape[0] - 1)
    missing = min(missing, acc.shape[0] - cut)
    det = StepDetector(sampling_rate_hz=FS)
    before = det.feed(acc[:cut], gyr[:cut])
    det.gap(missing)
    after = det.feed(acc[cut + missing :], gyr[cut + missing :])
    det.flush()
    assert det.samples_seen == acc.shape[0]
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    for s in np.concatenate([before, after]):
        assert not (s["ic_idx"] - 2 < cut + missing and s["to_idx"] + 2 > cut)
    # steps entirely before the gap are unchanged
    assert_same_steps(before, full[full["to_idx"] < cut - 40][: before.size])
    # a contact in progress at the gap is counted as dropped
    in_contact = np.any((full["ic_idx"] < cut) & (full["to_idx"] > cut))
    if in_contact:
        assert det.dropped_steps >= 1
    # after the gap a swing is needed again; later steps equal the batch ones
    later = full[full["ic_idx"] > cut + missing + 0.5 * FS]
    got_later = after[after["ic_idx"] > cut + missing + 0.5 * FS]
    assert got_later.shape == later.shape
    for name in ("ic_idx", "to_idx", "gct_ms", "peak_accel_g", "clipped"):
        np.testing.assert_array_equal(got_later[name], later[name], err_msg=name)
    # the pitch integral skipped the lost samples: equal up to rounding
    np.testing.assert_allclose(got_later["strike_angle_deg"], later["strike_angle_deg"], atol=1e-9)
    # stride needs the previous IC, which a gap forgets
    first_after = after["stride_ms"][:1]
    assert np.all(np.isnan(first_after))
    if got_later.size and got_later["ic_idx"][0] != after["ic_idx"][0]:
        np.testing.assert_array_equal(got_later["stride_ms"], later["stride_ms"])


def test_nan_sample_is_a_gap() -> None:
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=FS, duration_s=8.0)
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    mid = full[full.size // 2]
    hole = round((mid["ic_idx"] + mid["to_idx"]) / 2)  # inside a contact
    acc = acc.copy()
    acc[hole, 1] = np.nan
    det = StepDetector(sampling_rate_hz=FS)
    got = np.concatenate([det.feed(acc, gyr), det.flush()])
    assert det.dropped_steps == 1
    assert det.samples_seen == acc.shape[0]
    assert got.size == full.size - 1
    assert not np.any((got["ic_idx"] <= hole) & (got["to_idx"] >= hole))
    assert np.all(np.isfinite(got["gct_ms"]))


def test_short_gap_in_mid_swing_keeps_the_coming_step() -> None:
    """Enough swing follows the gap to confirm a new swing: the landing after it is a step."""
    acc, gyr, _ = sim_run("forefoot", sampling_rate_hz=FS, duration_s=8.0)
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    cut = round((full["to_idx"][2] + full["ic_idx"][3]) / 2)  # mid-swing
    det = StepDetector(sampling_rate_hz=FS)
    before = det.feed(acc[:cut], gyr[:cut])
    det.gap(3)
    rest = det.feed(acc[cut + 3 :], gyr[cut + 3 :])
    assert det.dropped_steps == 0
    assert before.size == 3
    np.testing.assert_array_equal(rest["ic_idx"], full["ic_idx"][3:])
    assert np.isnan(rest["stride_ms"][0])


@pytest.mark.parametrize("first", [1, 20, 3000])
def test_later_block_longer_than_the_ring(first: int) -> None:
    """The first block is read in place; a later block, here several times the ring, is copied
    into the ring in chunks: the steps equal those of the whole recording."""
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=FS, duration_s=45.0)
    det = StepDetector(sampling_rate_hz=FS)
    ring = det.ring_rows
    assert acc.shape[0] - first > 3 * ring
    got = np.concatenate([det.feed(acc[:first], gyr[:first]), det.feed(acc[first:], gyr[first:])])
    got = np.concatenate([got, det.flush()])
    assert_same_steps(got, detect_steps(acc, gyr, sampling_rate_hz=FS))


@pytest.mark.parametrize("sizes", [[20], [7, 333]])
def test_nan_in_mid_swing_streamed_as_in_one_block(sizes: list[int]) -> None:
    """A non-finite sample inside a swing (the kernel's fast path through a swing) is a gap in
    per-packet and whole-recording calls alike."""
    acc, gyr, _ = sim_run("midfoot", sampling_rate_hz=FS, duration_s=8.0)
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    acc = acc.copy()
    holes = []
    for j in (3, 6):
        swing = round((full["to_idx"][j] + full["ic_idx"][j + 1]) / 2)
        assert gyr[swing, 1] < -100.0  # inside the swing
        acc[swing, 2] = np.inf if j == 3 else np.nan
        holes.append(swing)
    whole = detect_steps(acc, gyr, sampling_rate_hz=FS)
    for hole in holes:  # the step after a gap has no stride: the gap reset the detector
        after = whole[whole["ic_idx"] > hole][0]
        assert np.isnan(after["stride_ms"])
        assert after["ic_idx"] == full[full["ic_idx"] > hole][0]["ic_idx"]
    assert_same_steps(_feed_chunked(acc, gyr, sizes), whole)


def test_recording_cut_after_a_push_off_keeps_its_last_contact() -> None:
    """A recording that ends after the push-off but before the swing is confirmed keeps its
    last contact (flush); one that ends in mid-stance does not. Streaming gives the same."""
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=FS, duration_s=12.0)
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    k = full.size // 2
    to = full["to_idx"][k]
    # just after the foot turned toe-up, long before a swing is confirmed
    after = round(to) + int(np.flatnonzero(gyr[round(to) :, 1] < 0.0)[0]) + 5
    assert np.min(gyr[round(to) : after, 1]) > -100.0
    early = round(to) + 4  # the push-off peak is not over: no step
    assert detect_steps(acc[:early], gyr[:early], sampling_rate_hz=FS).size == k
    cut = detect_steps(acc[:after], gyr[:after], sampling_rate_hz=FS)
    assert cut.size == k + 1
    np.testing.assert_allclose(cut["to_idx"][-1], to, atol=1e-9)
    assert_same_steps(_feed_chunked(acc[:after], gyr[:after], [20]), cut)
    assert_same_steps(reference_detect_steps(acc[:after], gyr[:after], sampling_rate_hz=FS), cut)
    mid_stance = round((full["ic_idx"][k] + to) / 2)
    assert detect_steps(acc[:mid_stance], gyr[:mid_stance], sampling_rate_hz=FS).size == k


def test_recording_that_starts_in_a_short_end_of_swing_keeps_its_first_landing() -> None:
    """The data start with less than min_swing_ms of swing left: that swing still counts, so
    the landing that ends it is a step (kernel and reference alike)."""
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=FS, duration_s=12.0)
    full = detect_steps(acc, gyr, sampling_rate_hz=FS)
    k = full.size // 2
    ic = round(full["ic_idx"][k])
    swing = np.flatnonzero(gyr[:ic, 1] < -100.0)
    start = int(swing[-1]) - 5  # 6 swing samples (15 ms) left, fewer than min_swing (16)
    got = detect_steps(acc[start:], gyr[start:], sampling_rate_hz=FS)
    np.testing.assert_allclose(got["ic_idx"][0] + start, full["ic_idx"][k], atol=1e-9)
    ref = reference_detect_steps(acc[start:], gyr[start:], sampling_rate_hz=FS)
    assert_same_steps(ref, got)
