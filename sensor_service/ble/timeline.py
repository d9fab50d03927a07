"""Decoded packets → consecutive foot-frame samples on one monotonic index per pod.

Pods say when their samples were measured in different ways (``[timestamps]`` of a firmware
profile): a tick per packet with or without a sequence number (footpod-imu/1, Movesense,
Polar), or nothing at all, so that samples are counted and stamped by extrapolation
(MetaMotion, Thingy:52, WitMotion). Some send accelerometer and gyroscope in separate frames
with their own ticks (Polar PMD). :class:`SampleTimeline` turns all of these into
:class:`PodSamples` on one sample index, gaps included, so the kernel is told exactly how many
samples are missing and never bridges a gap, and maps indices to host epoch time through a
:class:`~sensor_service.ble.clock.PodClock`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensor_service.ble.clock import PodClock
from sensor_service.profiles import DecodedPacket, Timestamps

__all__ = ["PodSamples", "SampleTimeline", "TimelineCounters"]


@dataclass(frozen=True, slots=True)
class PodSamples:
    """Consecutive samples of one pod, in the foot frame."""

    first_index: int  # sample index since the stream began, gaps included
    gap_samples: int  # samples missing just before this chunk (0 when contiguous)
    acc_m_s2: NDArray[np.float64]
    gyr_deg_s: NDArray[np.float64] | None
    clipped: bool


@dataclass(slots=True)
class TimelineCounters:
    packets_received: int = 0
    packets_lost: int = 0  # from sequence numbers, where the pod sends them
    duplicates: int = 0
    samples: int = 0
    gaps: int = 0
    gap_samples: int = 0
    overlap_samples: int = 0  # samples received twice (dropped)


@dataclass(slots=True)
class _Channel:
    """One stream of samples with its own counters (imu, or acc and gyr apart)."""

    clock: PodClock
    next_index: int = 0
    pending: deque[tuple[int, NDArray[np.float64], bool]] | None = None


class SampleTimeline:
    """Per-pod sample bookkeeping; ``push`` each decoded packet with its arrival time."""

    def __init__(
        self,
        timestamps: Timestamps,
        *,
        sampling_rate_hz: float,
        rotation: NDArray[np.float64],
        expects_gyro: bool = True,
    ) -> None:
        self.timestamps = timestamps
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.rotation = rotation
        self.counters = TimelineCounters()
        self._expects_gyro = expects_gyro
        #: Decided by the first IMU packet: acc and gyr in separate frames (Polar, MetaMotion)?
        self._separate: bool | None = None
        self._channels: dict[str, _Channel] = {}
        self._emit_next = 0
        self._pod_time0_s: float | None = None

    def _new_channel(self, joined: bool) -> _Channel:
        ts = self.timestamps
        clock = PodClock(
            seq_bits=ts.seq_bits or 16,
            tick_bits=ts.tick_wrap_bits or 64,
            tick_unit_s=ts.tick_unit_s,
        )
        return _Channel(clock, pending=deque() if joined else None)

    @property
    def clock(self) -> PodClock:
        """The clock that maps this pod's sample indices to host time."""
        if not self._channels:
            raise RuntimeError("no samples yet")
        return next(iter(self._channels.values())).clock

    @property
    def started(self) -> bool:
        return self._pod_time0_s is not None

    def index_to_epoch_ns(self, index: float) -> int:
        """Host epoch time (ns) of a sample index."""
        if self._pod_time0_s is None:
            raise RuntimeError("no samples yet")
        pod_s = self._pod_time0_s + index / self.sampling_rate_hz
        return round(self.clock.to_host_s(pod_s) * 1e9)

    # ------------------------------------------------------------------ intake
    def push(self, packet: DecodedPacket, host_s: float) -> list[PodSamples]:
        """Account for one decoded packet; return the samples it completes (maybe none)."""
        if packet.sample_period_s:
            self.sampling_rate_hz = 1.0 / packet.sample_period_s
        out: list[PodSamples] = []
        for name, values in self._split(packet):
            out.extend(self._push_channel(name, values, packet, host_s))
        return out

    def _split(self, packet: DecodedPacket) -> list[tuple[str, NDArray[np.float64]]]:
        acc, gyr = packet.acc_m_s2, packet.gyr_deg_s
        if acc is None and gyr is None:
            return []
        if self._separate is None:
            self._separate = self._expects_gyro and (acc is None or gyr is None)
            names = ("acc", "gyr") if self._separate else ("imu",)
            self._channels = {name: self._new_channel(self._separate) for name in names}
        if not self._separate:
            if acc is None:
                return []
            both = acc if gyr is None else np.hstack([acc, gyr])
            return [("imu", both)]
        return [(n, v) for n, v in (("acc", acc), ("gyr", gyr)) if v is not None]

    def _push_channel(
        self, name: str, values: NDArray[np.float64], packet: DecodedPacket, host_s: float
    ) -> list[PodSamples]:
        channel = self._channels[name]
        n = values.shape[0]
        if n == 0:
            return []
        period_s = 1.0 / self.sampling_rate_hz
        update = channel.clock.track(packet.seq, packet.tick)
        if update.duplicate:
            self.counters.duplicates += 1
            return []
        if math.isnan(update.pod_time_s):  # no pod clock: extrapolate from the count
            first_pod_s = channel.next_index * period_s + (self._pod_time0_s or 0.0)
        else:
            first_pod_s = update.pod_time_s
            if self.timestamps.tick_refers_to == "last":
                first_pod_s -= (n - 1) * period_s
        # The packet leaves the pod once its last sample is measured.
        channel.clock.sync(first_pod_s + (n - 1) * period_s, host_s)
        self._count_packets()
        if self._pod_time0_s is None:
            self._pod_time0_s = first_pod_s
        first = round((first_pod_s - self._pod_time0_s) * self.sampling_rate_hz)
        if first < channel.next_index:  # overlap with what we already have
            skip = channel.next_index - first
            self.counters.overlap_samples += min(skip, n)
            values = values[skip:]
            first = channel.next_index
            if values.shape[0] == 0:
                return []
        channel.next_index = first + values.shape[0]
        if channel.pending is None:
            return [self._emit(first, values, packet.clipped)]
        channel.pending.append((first, values, packet.clipped))
        return self._join()

    def _count_packets(self) -> None:
        clocks = [c.clock for c in self._channels.values()]
        self.counters.packets_received = sum(c.packets_received for c in clocks)
        self.counters.packets_lost = sum(c.packets_lost for c in clocks)

    def _join(self) -> list[PodSamples]:
        """Emit the index range both the acc and the gyr channel have."""
        acc_q = self._channels["acc"].pending
        gyr_q = self._channels["gyr"].pending
        assert acc_q is not None
        assert gyr_q is not None
        out: list[PodSamples] = []
        while acc_q and gyr_q:
            start = max(acc_q[0][0], gyr_q[0][0], self._emit_next)
            for queue in (acc_q, gyr_q):
                while queue and queue[0][0] + queue[0][1].shape[0] <= start:
                    queue.popleft()
            if not (acc_q and gyr_q):
                break
            start = max(acc_q[0][0], gyr_q[0][0], start)
            end = min(acc_q[0][0] + acc_q[0][1].shape[0], gyr_q[0][0] + gyr_q[0][1].shape[0])
            if start >= end:
                continue
            a0, a, a_clip = acc_q[0]
            g0, g, g_clip = gyr_q[0]
            both = np.hstack([a[start - a0 : end - a0], g[start - g0 : end - g0]])
            out.append(self._emit(start, both, a_clip or g_clip))
        return out

    def _emit(self, first: int, values: NDArray[np.float64], clipped: bool) -> PodSamples:
        gap = first - self._emit_next
        if gap > 0:
            self.counters.gaps += 1
            self.counters.gap_samples += gap
        self._emit_next = first + values.shape[0]
        self.counters.samples += values.shape[0]
        rot_t = self.rotation.T
        acc = values[:, :3] @ rot_t
        gyr = values[:, 3:6] @ rot_t if values.shape[1] >= 6 else None
        return PodSamples(first, max(gap, 0), acc, gyr, clipped)
