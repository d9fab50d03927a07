"""A durable, bounded, append-only record spool: the local write-ahead log of a delivery hop.

Used by the publisher (everything the broker has not acknowledged) and by the ingest worker
(everything InfluxDB has not taken). Records are opaque bytes with a sequence number; a
consumer reads them in order and commits a sequence number once the next stage has them
durably. Commits persist a cursor file; records up to it are never replayed, so a process
restart replays exactly the uncommitted tail (plus, after a crash, what was committed since the
last cursor save: at-least-once, and downstream points are idempotent).

On disk (one directory per spool; a lock file keeps out a second process)::

    seg-0000000000000001.log   records: <u32 length><u32 crc32><u64 seq><payload>
    seg-0000000000004097.log   a new segment every ``segment_bytes``; named by its first seq
    committed                  the last committed seq (text, replaced atomically)

Appends go to the OS at once; :meth:`Spool.sync` fsyncs them (callers group many appends per
fsync). A torn record at the end of the last segment (a crash mid-write) is cut off when the
spool is opened; a record only counts once fsynced, so nothing acknowledged is cut. Whole
segments whose records are all committed are deleted. The spool is bounded by ``max_bytes``
of segment files: :attr:`Spool.full` says when producers must wait (:class:`AsyncSpool` makes
them wait and reports it), it never drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sensor_service.errors import ConfigError, ServiceError

__all__ = ["AsyncSpool", "Spool", "SpoolStats", "default_state_dir"]

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("<IIQ")
_MAX_RECORD_BYTES: Final = 64 * 1024 * 1024
_SEGMENT_PREFIX: Final = "seg-"
_SEGMENT_SUFFIX: Final = ".log"


def default_state_dir() -> Path:
    """``$FOOTPOD_STATE_DIR``, else ``$XDG_STATE_HOME/footpod``, else ``~/.local/state/footpod``."""
    explicit = os.environ.get("FOOTPOD_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "footpod"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending_records: int
    disk_bytes: int
    max_bytes: int


@dataclass(slots=True)
class _Segment:
    first_seq: int
    path: Path
    last_seq: int  # first_seq - 1 while empty
    size: int


class Spool:
    """The synchronous spool (one process, one event loop); see the module docstring."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if max_bytes <= 0 or segment_bytes <= 0:
            raise ConfigError("spool max_bytes and segment_bytes must be > 0")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max_bytes)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise ServiceError(
                f"spool {self.directory} is in use by another process: give each process its "
                "own client id / state directory"
            ) from exc
        self._segments: list[_Segment] = []
        self._write_fd: int | None = None
        self._unsynced = False
        self.committed = self._read_committed()
        self._recover()
        # Reader cursor: the next seq a consumer gets, and where it is on disk.
        self._read_seq = self.committed + 1
        self._read_pos: tuple[int, int] | None = None  # (segment index, byte offset)
        self._cursor_saved_at = time.monotonic()

    # ------------------------------------------------------------------ open / recover
    def _read_committed(self) -> int:
        path = self.directory / "committed"
        try:
            return int(path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise ServiceError(f"spool cursor {path} is corrupt: {exc}") from exc

    def _scan(self, path: Path) -> Iterator[tuple[int, int, int]]:
        """Yield ``(offset, seq, record size)`` of every whole, intact record of a segment."""
        with path.open("rb") as f:
            offset = 0
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                length, crc, seq = _HEADER.unpack(header)
                if length > _MAX_RECORD_BYTES:
                    return
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    return
                yield offset, seq, _HEADER.size + length
                offset += _HEADER.size + length

    def _recover(self) -> None:
        paths = sorted(
            p
            for p in self.directory.iterdir()
            if p.name.startswith(_SEGMENT_PREFIX) and p.name.endswith(_SEGMENT_SUFFIX)
        )
        for i, path in enumerate(paths):
            first = int(path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)])
            last = first - 1
            good = 0
            for offset, seq, size in self._scan(path):
                last = seq
                good = offset + size
            size = path.stat().st_size
            if good < size:
                if i != len(paths) - 1:
                    raise ServiceError(
                        f"spool segment {path} is corrupt in the middle of the spool; move it "
                        "away to start anew (its records are lost)"
                    )
                log.warning(
                    "spool %s: cutting a torn record at the end of %s", self.directory, path
                )
                with path.open("r+b") as f:
                    f.truncate(good)
                    f.flush()
                    os.fsync(f.fileno())
                size = good
            self._segments.append(_Segment(first, path, last, size))
        self._drop_committed_segments()

    # ------------------------------------------------------------------ state
    @property
    def last_seq(self) -> int:
        for seg in reversed(self._segments):
            if seg.last_seq >= seg.first_seq:
                return seg.last_seq
        return max(self.committed, self._segments[-1].first_seq - 1 if self._segments else 0)

    @property
    def disk_bytes(self) -> int:
        return sum(seg.size for seg in self._segments)

    @property
    def full(self) -> bool:
        return self.disk_bytes >= self.max_bytes

    @property
    def pending_records(self) -> int:
        return self.last_seq - self.committed

    @property
    def unread_records(self) -> int:
        return self.last_seq - self._read_seq + 1

    def stats(self) -> SpoolStats:
        return SpoolStats(self.pending_records, self.disk_bytes, self.max_bytes)

    # ------------------------------------------------------------------ writing
    def append(self, payload: bytes) -> int:
        """Append one record (not yet fsynced: call :meth:`sync`); return its seq."""
        if len(payload) > _MAX_RECORD_BYTES:
            raise ValueError(f"spool record of {len(payload)} bytes exceeds {_MAX_RECORD_BYTES}")
        seq = self.last_seq + 1
        seg = self._segments[-1] if self._segments else None
        if seg is None or seg.size >= self.segment_bytes:
            seg = self._new_segment(seq)
        if self._write_fd is None:
            self._write_fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        record = _HEADER.pack(len(payload), zlib.crc32(payload), seq) + payload
        os.write(self._write_fd, record)
        seg.last_seq = seq
        seg.size += len(record)
        self._unsynced = True
        return seq

    def _new_segment(self, first_seq: int) -> _Segment:
        if self._write_fd is not None:
            os.fsync(self._write_fd)
            os.close(self._write_fd)
            self._write_fd = None
        path = self.directory / f"{_SEGMENT_PREFIX}{first_seq:016d}{_SEGMENT_SUFFIX}"
        self._write_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.directory)
        seg = _Segment(first_seq, path, first_seq - 1, 0)
        self._segments.append(seg)
        return seg

    def sync(self) -> None:
        """fsync every appended record (blocking: run it in a thread from async code)."""
        if self._unsynced and self._write_fd is not None:
            self._unsynced = False
            os.fsync(self._write_fd)

    # ------------------------------------------------------------------ reading
    def read(self, max_records: int, max_bytes: int = 16 * 1024 * 1024) -> list[tuple[int, bytes]]:
        """The next unread records (in order) after the read cursor; advances the cursor."""
        out: list[tuple[int, bytes]] = []
        size = 0
        if self._read_pos is None:
            self._read_pos = self._locate(self._read_seq)
            if self._read_pos is None:
                return out
        index, offset = self._read_pos
        while index < len(self._segments) and len(out) < max_records and size < max_bytes:
            seg = self._segments[index]
            if offset >= seg.size:
                if index == len(self._segments) - 1:
                    break
                index, offset = index + 1, 0
                continue
            with seg.path.open("rb") as f:
                f.seek(offset)
                while offset < seg.size and len(out) < max_records and size < max_bytes:
                    length, crc, seq = _HEADER.unpack(f.read(_HEADER.size))
                    payload = f.read(length)
                    if zlib.crc32(payload) != crc:
                        raise ServiceError(f"spool {seg.path}: record {seq} is corrupt")
                    offset += _HEADER.size + length
                    size += length
                    out.append((seq, payload))
        self._read_pos = (index, offset)
        if out:
            self._read_seq = out[-1][0] + 1
        return out

    def _locate(self, seq: int) -> tuple[int, int] | None:
        for index, seg in enumerate(self._segments):
            if seg.last_seq < seq:
                continue
            if seg.first_seq >= seq:
                return index, 0
            for offset, rseq, _ in self._scan(seg.path):
                if rseq >= seq:
                    return index, offset
        return None

    def rewind(self) -> None:
        """Read again from the first uncommitted record (after a lost connection)."""
        self._read_seq = self.committed + 1
        self._read_pos = None

    def commit(self, seq: int, *, save_every_s: float = 0.5) -> None:
        """Records up to ``seq`` are delivered downstream: never replay them."""
        if seq <= self.committed:
            return
        self.committed = seq
        if self._read_seq <= seq:
            self._read_seq = seq + 1
            self._read_pos = None
        dropped = self._drop_committed_segments()
        now = time.monotonic()
        if dropped or now - self._cursor_saved_at >= save_every_s or self.pending_records == 0:
            self.save_cursor()

    def save_cursor(self) -> None:
        self._cursor_saved_at = time.monotonic()
        tmp = self.directory / "committed.tmp"
        tmp.write_text(f"{self.committed}\n")
        os.replace(tmp, self.directory / "committed")

    def _drop_committed_segments(self) -> bool:
        """Delete leading segments whose records are all committed (the open one once full)."""
        dropped = False
        while self._segments:
            seg = self._segments[0]
            is_last = len(self._segments) == 1
            if seg.last_seq > self.committed or (is_last and seg.size < self.segment_bytes):
                break
            if not dropped:
                self.save_cursor()  # before the records disappear
            if is_last and self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None
                self._unsynced = False
            seg.path.unlink(missing_ok=True)
            self._segments.pop(0)
            self._read_pos = None
            dropped = True
        if dropped:
            _fsync_dir(self.directory)
        return dropped

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sync()
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        with contextlib.suppress(OSError):
            self.save_cursor()
        os.close(self._lock_fd)


class AsyncSpool:
    """Group-committed, bounded async front of a :class:`Spool` for one event loop.

    * ``await put(payload)`` appends and returns once the record is fsynced (many concurrent
      puts share one fsync, at most every ``sync_interval_s``); when the spool is full it waits
      for room (backpressure), logs that once per episode and counts it in ``blocked``.
    * ``await get(max_records)`` waits for unread records and returns them in order;
      ``commit(seq)`` once they are delivered; ``rewind()`` to read the uncommitted ones again.
    """

    def __init__(self, spool: Spool, *, name: str, sync_interval_s: float = 0.01) -> None:
        self.spool = spool
        self.name = name
        self.sync_interval_s = sync_interval_s
        self.blocked = 0
        self._synced_seq = spool.last_seq
        self._sync_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._data = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        if spool.unread_records:
            self._data.set()

    async def put(self, payload: bytes) -> int:
        return (await self.put_many([payload]))[-1]

    async def put_many(self, payloads: list[bytes]) -> list[int]:
        """Append records (in order) and wait until they are fsynced."""
        await self.wait_for_room()
        seqs = [self.spool.append(p) for p in payloads]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sync_waiters.append((seqs[-1], done))
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync_soon(), name=f"spool-sync-{self.name}")
        await asyncio.shield(done)
        self._data.set()
        return seqs

    async def wait_for_room(self) -> None:
        if not self.spool.full:
            return
        self.blocked += 1
        stats = self.spool.stats()
        log.warning(
            "spool %s full (%d records, %d of %d bytes): producers wait until it drains",
            self.name,
            stats.pending_records,
            stats.disk_bytes,
            stats.max_bytes,
        )
        while self.spool.full:
            self._room.clear()
            await self._room.wait()
        log.info("spool %s has room again; producers resume", self.name)

    async def _sync_soon(self) -> None:
        await asyncio.sleep(self.sync_interval_s)
        while self._sync_waiters:
            upto = self.spool.last_seq
            waiters, self._sync_waiters = self._sync_waiters, []
            try:
                await asyncio.to_thread(self.spool.sync)
            except OSError as exc:
                for _, fut in waiters:
                    if not fut.done():
                        fut.set_exception(
                            ServiceError(f"spool {self.name}: fsync failed ({exc}); disk full?")
                        )
                continue
            self._synced_seq = upto
            for _, fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def get(
        self, max_records: int, max_bytes: int = 16 * 1024 * 1024
    ) -> list[tuple[int, bytes]]:
        """Wait for unread, fsynced records; return up to ``max_records`` of them in order."""
        while True:
            records = self.spool.read(max_records, max_bytes)
            if records:
                return records
            self._data.clear()
            await self._data.wait()

    def read_nowait(self, max_records: int) -> list[tuple[int, bytes]]:
        return self.spool.read(max_records)

    def commit(self, seq: int) -> None:
        self.spool.commit(seq)
        if not self.spool.full:
            self._room.set()

    def rewind(self) -> None:
        self.spool.rewind()
        if self.spool.unread_records:
            self._data.set()

    @property
    def empty(self) -> bool:
        return self.spool.pending_records == 0

    async def aclose(self) -> None:
        if self._sync_task is not None:
            await self._sync_task
        self.spool.close()
