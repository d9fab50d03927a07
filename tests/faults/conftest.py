"""Fault tests: every spool in the test's tmp dir; ingest processes cleaned up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults._helpers import IngestProcess


@pytest.fixture(autouse=True)
def _state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOOTPOD_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def ingest_process(tmp_path: Path) -> Iterator[type[IngestProcess]]:
    made: list[IngestProcess] = []

    class Tracked(IngestProcess):
        def __init__(self, **kwargs: object) -> None:
            kwargs.setdefault("workdir", tmp_path)
            super().__init__(**kwargs)  # type: ignore[arg-type]
            made.append(self)

    yield Tracked
    for proc in made:
        if proc.proc is not None:
            proc.proc.kill()
            proc.proc.wait(10)
