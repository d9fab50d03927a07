"""Per-pod streaming detector: owns the kernel state and converts around the numba kernel."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from sensor_service.errors import ConfigError
from sensor_service.kernels._acc_kernel import (
    ACC_LAYOUT,
    acc_dropped_steps,
    acc_flush,
    acc_gap,
    acc_process_block,
)
from sensor_service.kernels._acc_params import AccEventParams, compile_acc_params, pack_acc_params
from sensor_service.kernels._event_kernel import (
    FOOT_LAYOUT,
    dropped_steps,
    flush_block,
    process_block,
    reset_on_gap,
    samples_seen,
)
from sensor_service.kernels._params import EventParams, compile_params, pack_params
from sensor_service.kernels._steps import STEP_DTYPE, rows_to_steps
from sensor_service.kernels._workspace import new_workspace, out_rows, out_view, with_out_rows

__all__ = ["PLACEMENTS", "StepDetector", "detect_steps"]

#: Where the pod sits: on the shoe (dorsum or lateral side), just above the ankle, or mid-shank.
PLACEMENTS: Final = ("foot", "ankle", "shank")
_OUT_CAP: Final = 64  # rows kept for per-packet calls; larger blocks get a larger buffer


_NO_STEPS: Final = np.empty(0, dtype=STEP_DTYPE)
_NO_STEPS.setflags(write=False)


def _empty_steps() -> NDArray[np.void]:
    """The shared, read-only empty result (most per-packet calls complete no step)."""
    return _NO_STEPS


def _as_kernel_input(arr: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """(n, 3) float64, C-contiguous and writable: the one array type the kernel is compiled for.

    Anything else (float32, a strided view, a read-only buffer) is copied once, so a new layout
    never triggers a numba compile on the per-packet path.
    """
    if (
        type(arr) is np.ndarray
        and arr.dtype == np.float64
        and arr.ndim == 2
        and arr.shape[1] == 3
        and arr.flags.c_contiguous
        and arr.flags.writeable
    ):
        return arr
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    if out.ndim != 2 or out.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {out.shape}")
    return out


class StepDetector:
    """Streaming gait event detector for one pod (one foot).

    Feed consecutive blocks of foot-frame samples; each call returns the steps completed in
    it (``STEP_DTYPE``). Results are identical for any chunking of the same stream. State lives in
    one int64 workspace array owned by this object (``_workspace``: state, parameters, ring of
    recent samples and out rows, so a per-packet kernel call unboxes three arrays, not eight);
    no reference to the input is kept.
    """

    def __init__(
        self,
        *,
        sampling_rate_hz: float,
        placement: str = "foot",
        has_gyro: bool = True,
        clip_limit_m_s2: float | None = None,
        params: EventParams | None = None,
        acc_params: AccEventParams | None = None,
    ) -> None:
        if placement not in PLACEMENTS:
            raise ConfigError(f"placement {placement!r} is not supported: use one of {PLACEMENTS}")
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.placement = placement
        #: Which method runs: "gyro" (foot pod with gyroscope: pitch-velocity swing and push-off,
        #: ``_event_kernel``) or "acc" (ankle / shank pods, or any pod without gyroscope:
        #: orientation-free impact and push-off peak of |acc|, ``_acc_kernel``). A shank's
        #: gyroscope does not measure the foot's pitch, so ankle and shank pods use "acc".
        self.method = "gyro" if placement == "foot" and has_gyro else "acc"
        self.params = params if params is not None else EventParams()
        self.acc_params = acc_params if acc_params is not None else AccEventParams()
        if self.method == "gyro":
            self._kp = compile_params(self.params, self.sampling_rate_hz, clip_limit_m_s2)
            #: samples of look-back kept between calls (raw acc and gyr)
            self.ring_rows = self._kp.ring_mask + 1
            layout, packed = FOOT_LAYOUT, pack_params(self._kp)
            self._min_period_n = self._kp.min_swing_n
        else:
            self._akp = compile_acc_params(self.acc_params, self.sampling_rate_hz, clip_limit_m_s2)
            self.ring_rows = self._akp.ring_mask + 1
            layout, packed = ACC_LAYOUT, pack_acc_params(self._akp)
            self._min_period_n = self._akp.min_stride_n
        self._ws = new_workspace(layout, packed, self.ring_rows, _OUT_CAP)
        self._fixed = layout.fixed_words(self.ring_rows)
        self._rows = out_rows(self._ws, self._fixed)  # out rows the workspace holds

    @property
    def samples_seen(self) -> int:
        """Samples seen since the detector started, lost samples (gaps) included."""
        return samples_seen(self._ws)  # both kernels keep it in st_i[0], word 0 of the workspace

    @property
    def dropped_steps(self) -> int:
        """Steps dropped because a gap overlapped them."""
        if self.method == "acc":
            return acc_dropped_steps(self._ws)
        return dropped_steps(self._ws)

    def feed(
        self, acc_m_s2: NDArray[np.float64], gyr_deg_s: NDArray[np.float64] | None = None
    ) -> NDArray[np.void]:
        """Process (n, 3) acc (m/s², with gravity) and gyr (deg/s) in the foot frame.

        The acc-only method (``method == "acc"``) ignores ``gyr_deg_s`` and needs no particular
        orientation of the acc axes.
        """
        acc = _as_kernel_input(acc_m_s2, "acc_m_s2")
        n = acc.shape[0]
        cap = n // self._min_period_n + 2
        if cap > self._rows:
            self._ws = with_out_rows(self._ws, self._fixed, cap)
            self._rows = out_rows(self._ws, self._fixed)
        if self.method == "acc":
            n_out = acc_process_block(acc, self._ws)
        else:
            if gyr_deg_s is None:
                raise ConfigError("this detector needs gyro samples (has_gyro=True)")
            gyr = _as_kernel_input(gyr_deg_s, "gyr_deg_s")
            if gyr.shape[0] != n:
                raise ValueError(
                    f"acc has {n} samples but gyr has {gyr.shape[0]}: feed equal blocks"
                )
            n_out = process_block(acc, gyr, self._ws)
        if n_out == 0:
            return _empty_steps()
        return self._steps(n_out)

    def gap(self, n_missing: int) -> NDArray[np.void]:
        """``n_missing`` samples were lost: advance the index; never bridge the gap with a step.

        Returns the steps completed before the gap that were still held (the acc-only method
        holds a contact until the landing after it can no longer be replaced).
        """
        if n_missing < 0:
            raise ValueError(f"n_missing must be ≥ 0, got {n_missing}")
        n_out = 0
        if n_missing:
            if self.method == "acc":
                n_out = acc_gap(self._ws, int(n_missing))
            else:
                reset_on_gap(self._ws, int(n_missing))
        return self._steps(n_out) if n_out else _empty_steps()

    def flush(self) -> NDArray[np.void]:
        """End of stream: the last contact when its toe-off was seen (see ``flush_block`` and
        ``acc_flush``); a contact without a toe-off is standing still: no step."""
        n_out = acc_flush(self._ws) if self.method == "acc" else flush_block(self._ws)
        return self._steps(n_out) if n_out else _empty_steps()

    def _steps(self, n_out: int) -> NDArray[np.void]:
        """The first ``n_out`` out rows of the workspace as step records. The view is made here,
        not kept: a copied or unpickled detector has its own workspace, and a kept view would
        still point into the original's."""
        return rows_to_steps(out_view(self._ws, self._fixed)[:n_out])


def detect_steps(
    acc_m_s2: NDArray[np.float64],
    gyr_deg_s: NDArray[np.float64] | None,
    *,
    sampling_rate_hz: float,
    placement: str = "foot",
    params: EventParams | None = None,
    clip_limit_m_s2: float | None = None,
    acc_params: AccEventParams | None = None,
) -> NDArray[np.void]:
    """Batch detection: one :meth:`StepDetector.feed` of the whole recording, then ``flush``.

    ``gyr_deg_s=None`` (or an ankle / shank placement) selects the acc-only method.
    """
    det = StepDetector(
        sampling_rate_hz=sampling_rate_hz,
        placement=placement,
        has_gyro=gyr_deg_s is not None,
        clip_limit_m_s2=clip_limit_m_s2,
        params=params,
        acc_params=acc_params,
    )
    steps = det.feed(acc_m_s2, gyr_deg_s)
    tail = det.flush()
    return steps if tail.size == 0 else np.concatenate([steps, tail])
