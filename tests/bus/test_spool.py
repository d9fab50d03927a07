"""The durable spool: order, restart replay, torn tails, bounds, segment clean-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sensor_service.bus.spool import AsyncSpool, Spool, default_state_dir
from sensor_service.errors import ServiceError


def _drain(spool: Spool) -> list[tuple[int, bytes]]:
    out = []
    while batch := spool.read(7):
        out.extend(batch)
    return out


def test_records_come_back_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    seqs = [spool.append(f"rec-{i}".encode()) for i in range(50)]
    spool.sync()
    assert seqs == list(range(1, 51))
    first = spool.read(10)
    assert [p for _, p in first] == [f"rec-{i}".encode() for i in range(10)]
    spool.commit(10)
    spool.close()
    again = Spool(tmp_path, segment_bytes=200)
    rest = _drain(again)
    assert [s for s, _ in rest] == list(range(11, 51))
    assert again.pending_records == 40
    assert again.append(b"next") == 51


def test_rewind_reads_the_uncommitted_records_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(5):
        spool.append(bytes([i]))
    assert len(spool.read(3)) == 3
    spool.commit(2)
    spool.rewind()
    assert [s for s, _ in _drain(spool)] == [3, 4, 5]


def test_a_torn_record_at_the_end_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(3):
        spool.append(f"r{i}".encode() * 10)
    spool.close()
    (seg,) = tmp_path.glob("seg-*.log")
    with seg.open("ab") as f:
        f.write(b"\x40\x00\x00\x00garbage")  # a crash in the middle of a write
    again = Spool(tmp_path)
    assert [s for s, _ in _drain(again)] == [1, 2, 3]
    assert again.append(b"x") == 4
    again.sync()
    again.close()
    assert [s for s, _ in _drain(Spool(tmp_path))] == [1, 2, 3, 4]


def test_committed_segments_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    for i in range(40):
        spool.append(b"x" * 30 + bytes([i]))
    assert len(list(tmp_path.glob("seg-*.log"))) > 5
    records = _drain(spool)
    spool.commit(records[-1][0])
    assert len(list(tmp_path.glob("seg-*.log"))) <= 1
    assert spool.pending_records == 0
    spool.close()
    again = Spool(tmp_path, segment_bytes=100)
    assert again.pending_records == 0
    assert again.append(b"y") == 41


def test_second_process_is_refused(tmp_path: Path) -> None:
    Spool(tmp_path)
    with pytest.raises(ServiceError, match="in use"):
        Spool(tmp_path)


def test_state_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOOTPOD_STATE_DIR", str(tmp_path))
    assert default_state_dir() == tmp_path
    monkeypatch.delenv("FOOTPOD_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "x"))
    assert default_state_dir() == tmp_path / "x" / "footpod"


async def test_full_spool_blocks_producers_until_commits_make_room(tmp_path: Path) -> None:
    spool = AsyncSpool(Spool(tmp_path, max_bytes=400, segment_bytes=100), name="t")
    for _ in range(4):
        await spool.put(b"z" * 90)
    assert spool.spool.full
    blocked = asyncio.create_task(spool.put(b"late"))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    assert spool.blocked == 1
    records = await spool.get(10)
    spool.commit(records[-1][0])
    assert await asyncio.wait_for(blocked, 2) == 5
    assert [s for s, _ in await spool.get(10)] == [5]
    await spool.aclose()


async def test_concurrent_puts_share_fsyncs_and_keep_order(tmp_path: Path) -> None:
    spool = AsyncSpool(Spool(tmp_path), name="t")
    seqs = await asyncio.gather(*(spool.put(str(i).encode()) for i in range(200)))
    assert sorted(seqs) == list(range(1, 201))
    got = await spool.get(500)
    assert [int(p) for _, p in got] == list(range(200))
    await spool.aclose()
