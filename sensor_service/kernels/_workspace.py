"""One caller-owned int64 array holds a detector's whole kernel state.

Layout, in 8-byte words: ``[int state | float state | packed params | ring | out rows]``; every
part after the int state is read as float64 (a view, no copy). A per-packet kernel call then
takes three arrays (acc, gyr, workspace) instead of eight: numba's dispatcher spends about
0.2 µs unboxing each array argument, which was most of the cost of a 20-sample call.

The kernels carve their views out of the workspace inside numba (slicing, ``view`` and a
``reshape`` of a contiguous slice allocate nothing); Python keeps a view of the out rows to read
the steps a call wrote. A block that may complete more steps than the out rows hold gets a
larger workspace (:func:`with_out_rows`): grown, never shrunk, the state copied over.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sensor_service.kernels._steps import N_OUT_COLS

__all__ = [
    "WorkspaceLayout",
    "new_workspace",
    "out_rows",
    "out_view",
    "split_out",
    "with_out_rows",
]


class WorkspaceLayout(NamedTuple):
    """The sizes of a kernel's workspace parts (words; the ring per row of look-back)."""

    n_state_i: int
    n_state_f: int
    n_params: int
    ring_cols: int

    def fixed_words(self, ring_rows: int) -> int:
        """Words before the out rows."""
        return self.n_state_i + self.n_state_f + self.n_params + self.ring_cols * ring_rows


def new_workspace(
    layout: WorkspaceLayout, params: NDArray[np.float64], ring_rows: int, rows: int
) -> NDArray[np.int64]:
    """A zeroed workspace with ``params`` in place and room for ``rows`` out rows."""
    if params.size != layout.n_params:
        raise ValueError(f"{params.size} packed parameters, the layout has {layout.n_params}")
    ws = np.zeros(layout.fixed_words(ring_rows) + rows * N_OUT_COLS, dtype=np.int64)
    f = ws[layout.n_state_i :].view(np.float64)
    f[layout.n_state_f : layout.n_state_f + params.size] = params
    return ws


def out_rows(ws: NDArray[np.int64], fixed: int) -> int:
    """Out rows the workspace holds (``fixed``: words before them)."""
    return (ws.size - fixed) // N_OUT_COLS


def out_view(ws: NDArray[np.int64], fixed: int) -> NDArray[np.float64]:
    """The out rows as a (rows, N_OUT_COLS) float64 view."""
    rows = out_rows(ws, fixed)
    return ws[fixed : fixed + rows * N_OUT_COLS].view(np.float64).reshape(rows, N_OUT_COLS)


def with_out_rows(ws: NDArray[np.int64], fixed: int, rows: int) -> NDArray[np.int64]:
    """``ws`` itself when it holds ``rows`` out rows, else a larger copy of its state."""
    if out_rows(ws, fixed) >= rows:
        return ws
    grown = np.zeros(fixed + rows * N_OUT_COLS, dtype=np.int64)
    grown[:fixed] = ws[:fixed]
    return grown


@njit(cache=True)
def split_out(f: np.ndarray, start: int) -> np.ndarray:
    """Inside a kernel: the out rows of the float view ``f``, from float word ``start``."""
    rest = f[start:]
    rows = rest.shape[0] // N_OUT_COLS
    return rest[: rows * N_OUT_COLS].reshape((rows, N_OUT_COLS))
