"""The detector's single workspace array: layout, growth, and the per-packet call's arguments."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from kernel_eval import sim_run

from sensor_service.kernels import StepDetector
from sensor_service.kernels._acc_kernel import acc_process_block
from sensor_service.kernels._event_kernel import process_block
from sensor_service.kernels._steps import N_OUT_COLS
from sensor_service.kernels._workspace import (
    WorkspaceLayout,
    new_workspace,
    out_view,
    with_out_rows,
)

LAYOUT = WorkspaceLayout(n_state_i=3, n_state_f=2, n_params=4, ring_cols=2)


def test_params_sit_after_the_state_as_float64() -> None:
    params = np.array([1.5, -2.0, 400.0, 1e-3])
    ws = new_workspace(LAYOUT, params, ring_rows=8, rows=5)
    assert ws.dtype == np.int64
    assert ws.size == LAYOUT.fixed_words(8) + 5 * N_OUT_COLS == 3 + 2 + 4 + 16 + 40
    np.testing.assert_array_equal(ws[3:].view(np.float64)[2:6], params)
    assert out_view(ws, LAYOUT.fixed_words(8)).shape == (5, N_OUT_COLS)
    with pytest.raises(ValueError, match="3 packed parameters"):
        new_workspace(LAYOUT, params[:3], ring_rows=8, rows=5)


def test_growing_the_out_rows_keeps_the_state_and_never_shrinks() -> None:
    fixed = LAYOUT.fixed_words(8)
    ws = new_workspace(LAYOUT, np.arange(4.0), ring_rows=8, rows=2)
    ws[:fixed] = np.arange(fixed)
    assert with_out_rows(ws, fixed, 2) is ws
    grown = with_out_rows(ws, fixed, 9)
    assert out_view(grown, fixed).shape == (9, N_OUT_COLS)
    np.testing.assert_array_equal(grown[:fixed], np.arange(fixed))
    assert with_out_rows(grown, fixed, 3) is grown


@pytest.mark.parametrize("placement", ["foot", "ankle"])
def test_a_block_after_packets_grows_the_workspace_and_keeps_the_stream(placement: str) -> None:
    """Small packets, then one long block (more steps than the out rows held): the state moves
    to the larger workspace and the steps equal those of one call."""
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=400.0, duration_s=30.0)
    has_gyro = placement == "foot"
    g = gyr if has_gyro else None
    one = StepDetector(sampling_rate_hz=400.0, placement=placement, has_gyro=has_gyro)
    ref = np.concatenate([one.feed(acc, g), one.flush()])
    det = StepDetector(sampling_rate_hz=400.0, placement=placement, has_gyro=has_gyro)
    rows_before = det._rows
    parts = [det.feed(acc[i : i + 20], None if g is None else g[i : i + 20]) for i in (0, 20)]
    parts.append(det.feed(acc[40:], None if g is None else g[40:]))
    parts.append(det.flush())
    got = np.concatenate(parts)
    assert det._rows > rows_before
    assert ref.size > 20
    np.testing.assert_array_equal(got["ic_idx"], ref["ic_idx"])
    np.testing.assert_array_equal(got["gct_ms"], ref["gct_ms"])


@pytest.mark.parametrize("placement", ["foot", "ankle"])
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_detector_goes_on_like_the_original(placement: str, how: str) -> None:
    """A detector copied in mid-stream (deepcopy, or pickled, e.g. to another process) gives
    the steps the original gives: nothing of it points into the original's workspace."""
    acc, gyr, _ = sim_run("rearfoot", sampling_rate_hz=400.0, duration_s=20.0)
    has_gyro = placement == "foot"
    g = gyr if has_gyro else None
    det = StepDetector(sampling_rate_hz=400.0, placement=placement, has_gyro=has_gyro)
    det.feed(acc[:3000], None if g is None else g[:3000])
    twin = copy.deepcopy(det) if how == "deepcopy" else pickle.loads(pickle.dumps(det))
    rest_a, rest_g = acc[3000:], None if g is None else g[3000:]
    want = np.concatenate([det.feed(rest_a, rest_g), det.flush()])
    got = np.concatenate([twin.feed(rest_a, rest_g), twin.flush()])
    assert want.size > 10
    np.testing.assert_array_equal(got["ic_idx"], want["ic_idx"])
    np.testing.assert_array_equal(got["gct_ms"], want["gct_ms"])


def test_the_kernels_take_the_samples_and_one_workspace() -> None:
    """A per-packet call unboxes three arrays (foot) or two (acc only), not eight."""
    foot = StepDetector(sampling_rate_hz=400.0)
    ankle = StepDetector(sampling_rate_hz=400.0, placement="ankle", has_gyro=False)
    packet = np.zeros((20, 3))
    assert process_block(packet, packet, foot._ws) == 0
    assert acc_process_block(packet, ankle._ws) == 0
    assert foot.samples_seen == ankle.samples_seen == 20
