"""What needs both feet, offline: step and flight time, cadence, and the L/R contact-time balance.

Same rules as the live :class:`sensor_service.pipeline.StepPairer`: a contact is paired with the
latest contact of the other foot whose IC precedes it by at most ``max_pair_s`` and whose TO
precedes this IC (a flight phase). ``step_ms`` = IC − other IC, ``flight_ms`` = IC − other TO,
``cadence_spm`` = 60000 / ``step_ms``; unpaired steps get NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ContactBalance", "PairedSteps", "contact_balance", "pair_feet"]


class PairedSteps(NamedTuple):
    """Per step of one foot (same order as its IC array)."""

    step_ms: NDArray[np.float64]
    flight_ms: NDArray[np.float64]
    cadence_spm: NDArray[np.float64]


def _pair_one(
    ic_s: NDArray[np.float64],
    other_ic_s: NDArray[np.float64],
    other_to_s: NDArray[np.float64],
    max_pair_s: float,
) -> PairedSteps:
    order = np.argsort(other_ic_s, kind="stable")
    o_ic, o_to = other_ic_s[order], other_to_s[order]
    j = np.searchsorted(o_ic, ic_s, side="left") - 1  # latest other IC strictly before this IC
    ok = j >= 0
    jj = np.where(ok, j, 0)
    prev_ic = np.where(ok, o_ic[jj] if o_ic.size else np.nan, np.nan)
    prev_to = np.where(ok, o_to[jj] if o_to.size else np.nan, np.nan)
    gap = ic_s - prev_ic
    ok &= (gap > 0) & (gap <= max_pair_s) & (prev_to <= ic_s)
    step_ms = np.where(ok, gap * 1000.0, np.nan)
    flight_ms = np.where(ok, (ic_s - prev_to) * 1000.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cadence = np.where(ok, 60000.0 / step_ms, np.nan)
    return PairedSteps(step_ms, flight_ms, cadence)


def pair_feet(
    left_ic_s: ArrayLike,
    left_to_s: ArrayLike,
    right_ic_s: ArrayLike,
    right_to_s: ArrayLike,
    *,
    max_pair_s: float = 2.0,
) -> tuple[PairedSteps, PairedSteps]:
    """Step time, flight time and cadence for every left and every right contact.

    Inputs are the two feet's step tables on one clock (seconds). Returns (left, right).
    """
    l_ic = np.asarray(left_ic_s, dtype=np.float64)
    l_to = np.asarray(left_to_s, dtype=np.float64)
    r_ic = np.asarray(right_ic_s, dtype=np.float64)
    r_to = np.asarray(right_to_s, dtype=np.float64)
    return _pair_one(l_ic, r_ic, r_to, max_pair_s), _pair_one(r_ic, l_ic, l_to, max_pair_s)


class ContactBalance(NamedTuple):
    """L/R balance of contact time over a run."""

    left_gct_ms: float  # median
    right_gct_ms: float
    left_share_pct: float  # left / (left + right) × 100; 50 = symmetric
    asymmetry_pct: float  # (left − right) / mean × 100 (symmetry index, Robinson et al. 1987)


def contact_balance(left_gct_ms: ArrayLike, right_gct_ms: ArrayLike) -> ContactBalance:
    """Medians of each foot's contact time and their balance; NaN when a foot has no step."""
    left = np.asarray(left_gct_ms, dtype=np.float64)
    right = np.asarray(right_gct_ms, dtype=np.float64)
    lm = float(np.nanmedian(left)) if np.isfinite(left).any() else float("nan")
    rm = float(np.nanmedian(right)) if np.isfinite(right).any() else float("nan")
    share = 100.0 * lm / (lm + rm)
    asym = 100.0 * (lm - rm) / ((lm + rm) / 2.0)
    return ContactBalance(lm, rm, share, asym)
