"""Offline analysis: run the streaming kernel over a recording and return the step table.

Needs pandas (the ``analysis`` extra). Public API:

* :func:`analyze`: one pod's CSV / DataFrame → step table (``pandas.DataFrame``), the table
  ``footpod analyze`` writes;
* :func:`combine_feet`: both feet's tables → paired step/flight time, cadence, L/R balance;
* :func:`pair_feet`, :func:`contact_balance`: the same on plain arrays;
* :func:`ankle_angle_deg`, :func:`max_dorsiflexion_deg`: ankle angle from a shank pod beside the
  foot pod (SCIENCE.md §9);
* :class:`AnalysisError`: unusable input, with a one-line message saying what to fix.
"""

from __future__ import annotations

from sensor_service.analysis._analyze import (
    LOAD_COLUMNS,
    STEP_COLUMNS,
    add_loads,
    analyze,
    analyze_recording,
    combine_feet,
)
from sensor_service.analysis._ankle import AnkleAngleError, ankle_angle_deg, max_dorsiflexion_deg
from sensor_service.analysis._io import AnalysisError, Recording, load_recording
from sensor_service.analysis._pairing import (
    ContactBalance,
    PairedSteps,
    contact_balance,
    pair_feet,
)

__all__ = [
    "LOAD_COLUMNS",
    "STEP_COLUMNS",
    "AnalysisError",
    "AnkleAngleError",
    "ContactBalance",
    "PairedSteps",
    "Recording",
    "add_loads",
    "analyze",
    "analyze_recording",
    "ankle_angle_deg",
    "combine_feet",
    "contact_balance",
    "load_recording",
    "max_dorsiflexion_deg",
    "pair_feet",
]
