"""Fixtures of the kernel tests: the real gaitmap walking sample (skipped only if absent)."""

from __future__ import annotations

import pytest

from sensor_service.kernels._gaitmap_data import GAITMAP_DIR, GaitmapFoot, load_gaitmap_foot


@pytest.fixture(scope="session", params=["left", "right"])
def gaitmap_foot(request: pytest.FixtureRequest) -> tuple[str, GaitmapFoot]:
    if not (GAITMAP_DIR / "imu_sample.csv").is_file():
        pytest.skip(f"gaitmap walking sample not found at {GAITMAP_DIR}")
    pytest.importorskip("pandas", reason="the gaitmap loader needs pandas (dev extra)")
    return request.param, load_gaitmap_foot(request.param)
