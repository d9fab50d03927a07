"""Every publisher and ingest worker of these tests keeps its spool in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOOTPOD_STATE_DIR", str(tmp_path / "state"))
