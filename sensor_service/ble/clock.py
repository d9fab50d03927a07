"""Pod clocks: sequence and tick wrap-around, lost packets, pod-clock offset and drift.

A pod stamps each packet with a wrapping sequence number and the tick of its first sample on its
own clock (footpod-imu/1: u16 sequence, u32 microseconds, FIRMWARE.md §0). This module turns
those into monotonic sample indices and host UTC times:

* :func:`unwrap` extends a wrapping counter given the previous unwrapped value.
* :class:`PodClock` counts lost packets from sequence jumps and maps pod ticks to host time with
  a linear model ``host = offset + (1 + drift) · pod``. The fit uses the lower envelope of
  ``host_arrival − pod_time`` (BLE latency only ever adds delay), refreshed over a sliding window,
  so that queueing jitter does not bend the time base.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["ClockUpdate", "PodClock", "unwrap"]


def unwrap(raw: int, previous: int | None, bits: int) -> int:
    """Unwrap a ``bits``-wide counter: the unwrapped value nearest after ``previous``.

    Steps of up to half the range forward are taken as forward; a larger jump forward is taken
    as a small step backward (a reordered or repeated packet).
    """
    modulus = 1 << bits
    if previous is None:
        return raw % modulus
    delta = (raw - previous) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return previous + delta


@dataclass(frozen=True, slots=True)
class ClockUpdate:
    """What one packet means on the unwrapped timelines."""

    seq: int  # unwrapped sequence number (-1 when the pod sends none)
    lost_packets: int  # packets missing just before this one (0 when contiguous)
    duplicate: bool  # a repeat or late packet (its sequence was already passed)
    pod_time_s: float  # first sample's time on the pod clock, unwrapped


class PodClock:
    """Per-pod sequence tracking and pod-to-host time mapping."""

    def __init__(
        self,
        *,
        seq_bits: int = 16,
        tick_bits: int = 32,
        tick_unit_s: float = 1e-6,
        window: int = 512,
    ) -> None:
        self.seq_bits = seq_bits
        self.tick_bits = tick_bits
        self.tick_unit_s = tick_unit_s
        self._last_seq: int | None = None
        self._last_tick: int | None = None
        self.packets_received = 0
        self.packets_lost = 0
        self.duplicates = 0
        # (pod_time_s, host_time_s) pairs whose delay is lowest in their block.
        self._window: deque[tuple[float, float]] = deque(maxlen=window)
        self._offset_s: float | None = None
        self._drift = 0.0
        self._since_fit = 0

    def track(self, seq: int | None, tick: int | None) -> ClockUpdate:
        """Unwrap one packet's counters and count what was lost; no time mapping.

        Without a sequence number, loss cannot be counted here (the sample index still shows it
        as a gap); a tick that does not advance marks a repeated packet. Without a tick the
        pod time is unknown (``nan``): the caller extrapolates from the sample count.
        """
        useq = None if seq is None else unwrap(seq, self._last_seq, self.seq_bits)
        utick = None if tick is None else unwrap(tick, self._last_tick, self.tick_bits)
        lost = 0
        duplicate = False
        if useq is not None and self._last_seq is not None:
            step = useq - self._last_seq
            duplicate = step <= 0
            lost = max(step - 1, 0)
        elif useq is None and utick is not None and self._last_tick is not None:
            duplicate = utick <= self._last_tick
        if duplicate:
            self.duplicates += 1
        else:
            if useq is not None:
                self._last_seq = useq
            if utick is not None:
                self._last_tick = utick
            self.packets_received += 1
            self.packets_lost += lost
        pod_time_s = float("nan") if utick is None else utick * self.tick_unit_s
        return ClockUpdate(-1 if useq is None else useq, lost, duplicate, pod_time_s)

    def observe(self, seq: int | None, tick: int, host_time_s: float) -> ClockUpdate:
        """:meth:`track` one packet and :meth:`sync` its tick with its arrival (epoch s)."""
        update = self.track(seq, tick)
        if not update.duplicate:
            self.sync(update.pod_time_s, host_time_s)
        return update

    # ------------------------------------------------------------------ time mapping
    def sync(self, pod_s: float, host_s: float) -> None:
        """Add one (pod time, host arrival time) pair to the offset and drift estimate."""
        self._window.append((pod_s, host_s))
        if self._offset_s is None:
            self._offset_s = host_s - pod_s
            return
        # Lower envelope: a packet that arrived sooner than the model says moves the offset.
        predicted = self._offset_s + pod_s * (1.0 + self._drift)
        if host_s < predicted:
            self._offset_s += host_s - predicted
        self._since_fit += 1
        if self._since_fit >= 64 and len(self._window) >= 128:
            self._since_fit = 0
            self._fit_drift()

    def _fit_drift(self) -> None:
        """Slope between the minimum-delay points of the first and last quarter of the window."""
        pts = list(self._window)
        quarter = len(pts) // 4
        first = min(pts[:quarter], key=lambda p: p[1] - p[0])
        last = min(pts[-quarter:], key=lambda p: p[1] - p[0])
        span = last[0] - first[0]
        if span <= 1.0:
            return
        drift = (last[1] - first[1]) / span - 1.0
        if abs(drift) < 1e-3:  # beyond ±1000 ppm is a clock jump, not drift
            self._drift = drift
            self._offset_s = last[1] - last[0] * (1.0 + drift)

    @property
    def drift_ppm(self) -> float:
        return self._drift * 1e6

    def to_host_s(self, pod_time_s: float) -> float:
        """Host (epoch) time of a pod-clock instant, with the current offset and drift."""
        if self._offset_s is None:
            raise RuntimeError("no packet observed yet")
        return self._offset_s + pod_time_s * (1.0 + self._drift)
