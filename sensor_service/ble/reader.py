"""Read one pod over BLE with the bleak API: find, connect, start, stream samples, reconnect.

The reader knows bleak and firmware profiles, nothing of MQTT or the kernel. Which Bluetooth
stack carries it (the OS one, or bumble on a virtual link or a USB dongle) is configuration
(:func:`sensor_service.ble.backend.backend_kwargs`).

Notifications are bridged from bleak's callback into a bounded queue (the callback only
enqueues); a full queue drops the oldest packet, counts it and logs it, and the resulting
sequence gap is reported downstream like any lost packet. :meth:`PodReader.stream` yields
:class:`PodSamples` with a monotonic sample index (gaps included), so that the kernel can be
told exactly how many samples are missing and never bridge a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from numpy.typing import NDArray

from sensor_service.ble.backend import backend_kwargs
from sensor_service.ble.clock import PodClock
from sensor_service.errors import DecodeError, FootpodError
from sensor_service.profiles import G_M_S2, DecodedPacket, Profile, parse_footpod_info

__all__ = ["PodReader", "PodSamples", "ReaderCounters", "reconnect_delay_s"]

log = logging.getLogger(__name__)


class PodUnavailableError(FootpodError, RuntimeError):
    """The pod cannot be used (not found, MTU too small, start sequence refused)."""


@dataclass(frozen=True, slots=True)
class PodSamples:
    """Consecutive samples of one pod, in the foot frame."""

    first_index: int  # sample index since the stream began, gaps included
    gap_samples: int  # samples missing just before this chunk (0 when contiguous)
    acc_m_s2: NDArray[np.float64]
    gyr_deg_s: NDArray[np.float64] | None
    clipped: bool


@dataclass(slots=True)
class ReaderCounters:
    packets_received: int = 0
    packets_lost: int = 0
    samples: int = 0
    gap_samples: int = 0
    gaps: int = 0
    decode_errors: int = 0
    queue_overflows: int = 0
    duplicates: int = 0
    reconnects: int = 0
    decode_error_reasons: dict[str, int] = field(default_factory=dict)


def reconnect_delay_s(attempt: int, error: BaseException | None, *, cap_s: float = 10.0) -> float:
    """How long to wait before reconnect ``attempt`` (0-based) after ``error``; pure but jitter.

    Returns ``-1`` when the error is not worth retrying (a programming or configuration error).
    """
    if isinstance(error, PodUnavailableError | TypeError | ValueError | AttributeError):
        return -1.0
    base = 0.1 * (2 ** min(attempt, 10))
    return float(min(cap_s, base) * (0.5 + 0.5 * np.random.random()))


class PodReader:
    """One pod: ``async for chunk in reader.stream(): ...``; ``await reader.stop()`` ends it."""

    def __init__(
        self,
        *,
        profile: Profile,
        name: str,
        backend: str = "virtual",
        decoder_params: dict[str, str | float] | None = None,
        queue_size: int = 512,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.profile = profile
        self.name = name
        self._backend = backend_kwargs(backend)
        self._decoder_params: dict[str, str | float] = dict(decoder_params or {})
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(queue_size)
        self._scan_timeout_s = scan_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._on_state = on_state or (lambda _state: None)
        self._stopping = asyncio.Event()
        self._disconnected = asyncio.Event()
        self.counters = ReaderCounters()
        self.clock = PodClock(
            seq_bits=profile.timestamps.seq_bits or 16,
            tick_bits=profile.timestamps.tick_wrap_bits or 32,
            tick_unit_s=profile.timestamps.tick_unit_s,
        )
        self.sampling_rate_hz = float(profile.rates.default_hz or 100.0)
        self.battery_pct: float | None = None
        #: Accelerometer saturation in m/s² when the pod says its range (clipping detection).
        self.acc_clip_limit_m_s2: float | None = None
        #: Signal strength seen when the pod was last found (dBm), where the stack reports it.
        self.rssi_dbm: float | None = None
        self._rotation = profile.mounting.rotation()
        self._pod_time0_s: float | None = None
        self._next_index = 0

    # ------------------------------------------------------------------ public
    @property
    def gap_s_total(self) -> float:
        """Seconds of samples missing so far."""
        return self.counters.gap_samples / self.sampling_rate_hz

    def index_to_epoch_ns(self, index: float) -> int:
        """Host epoch time (ns) of a sample index of this stream."""
        if self._pod_time0_s is None:
            raise RuntimeError("no samples yet")
        pod_s = self._pod_time0_s + index / self.sampling_rate_hz
        return round(self.clock.to_host_s(pod_s) * 1e9)

    async def stop(self) -> None:
        self._stopping.set()

    async def stream(self) -> AsyncIterator[PodSamples]:
        """Samples until :meth:`stop`; reconnects on link loss with capped jittered backoff."""
        attempt = 0
        while not self._stopping.is_set():
            error: BaseException | None = None
            try:
                async for chunk in self._session():
                    attempt = 0
                    yield chunk
            except (BleakError, TimeoutError, OSError, EOFError) as exc:
                error = exc
            if self._stopping.is_set():
                break
            delay = reconnect_delay_s(attempt, error)
            if delay < 0:
                raise PodUnavailableError(f"pod {self.name}: {error}") from error
            attempt += 1
            self.counters.reconnects += 1
            self._on_state("reconnecting")
            log.warning("pod %s: link lost (%s); reconnecting in %.2f s", self.name, error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self._on_state("stopped")

    # ------------------------------------------------------------------ one connection
    def _matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if (adv.local_name or device.name) != self.name:
            return False
        self.rssi_dbm = float(adv.rssi) if adv.rssi is not None else None
        return True

    async def _session(self) -> AsyncIterator[PodSamples]:
        device = await BleakScanner.find_device_by_filter(
            self._matches, timeout=self._scan_timeout_s, **self._backend
        )
        if device is None:
            raise TimeoutError(f"pod {self.name} not found within {self._scan_timeout_s:.0f} s")
        self._disconnected.clear()
        client = BleakClient(
            device,
            disconnected_callback=lambda _c: self._disconnected.set(),
            timeout=self._connect_timeout_s,
            **self._backend,
        )
        async with client:
            await self._prepare(client)
            decoder = self.profile.make_decoder(self._decoder_params)
            self._on_state("connected")
            await self._run_steps(client, self.profile.start)
            try:
                async for chunk in self._drain(decoder):
                    yield chunk
            finally:
                if client.is_connected and self._stopping.is_set():
                    with contextlib.suppress(BleakError, TimeoutError, OSError):
                        await self._run_steps(client, self.profile.stop)
        if not self._stopping.is_set():
            raise EOFError("disconnected")

    async def _prepare(self, client: BleakClient) -> None:
        gatt = self.profile.gatt
        mtu = client.mtu_size
        if mtu < gatt.min_mtu:
            raise PodUnavailableError(
                f"pod {self.name}: ATT MTU {mtu} < {gatt.min_mtu} needed by profile "
                f"{self.profile.profile.name}; notifications would be truncated"
            )
        if gatt.info is not None and gatt.info_parser == "footpod_info":
            info = parse_footpod_info(bytes(await client.read_gatt_char(gatt.info)))
            self.sampling_rate_hz = float(info.sampling_rate_hz)
            self._decoder_params.update(info.decoder_params())
            self._rotation = self.profile.mounting.with_axes(
                info.forward_axis, info.left_axis
            ).rotation()
            self.battery_pct = float(info.battery_pct)
            self.acc_clip_limit_m_s2 = float(info.acc_range_g) * G_M_S2
        elif gatt.battery is not None:
            with contextlib.suppress(BleakError):
                self.battery_pct = float((await client.read_gatt_char(gatt.battery))[0])

    async def _run_steps(self, client: BleakClient, steps: Any) -> None:
        params: dict[str, Any] = {**self.profile.decoder.params, **self._decoder_params}
        params.setdefault("sampling_rate_hz", self.sampling_rate_hz)
        for step in steps:
            try:
                if step.action == "write":
                    await client.write_gatt_char(
                        step.uuid, step.payload(params), response=step.response
                    )
                elif step.action == "subscribe":
                    await client.start_notify(step.uuid, self._on_notify)
                elif step.action == "unsubscribe":
                    await client.stop_notify(step.uuid)
                elif step.action == "read":
                    await client.read_gatt_char(step.uuid)
                elif step.action == "sleep":
                    await asyncio.sleep(step.s)
                elif step.action == "wait_response":
                    await asyncio.sleep(0)  # responses arrive on the data queue and are ignored
            except (BleakError, TimeoutError):
                if not step.optional:
                    raise

    def _on_notify(self, _char: object, data: bytearray) -> None:
        item = (time.time(), bytes(data))
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._queue.get_nowait()
            self._queue.put_nowait(item)
            self.counters.queue_overflows += 1
            if (
                self.counters.queue_overflows in (1, 10, 100)
                or self.counters.queue_overflows % 1000 == 0
            ):
                log.warning(
                    "pod %s: notification queue full, %d packets dropped so far (counted as lost)",
                    self.name,
                    self.counters.queue_overflows,
                )

    async def _drain(self, decoder: Any) -> AsyncIterator[PodSamples]:
        stop = asyncio.ensure_future(self._stopping.wait())
        lost = asyncio.ensure_future(self._disconnected.wait())
        try:
            while True:
                get = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait({get, stop, lost}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return
                host_s, data = get.result()
                chunk = self._handle(decoder, host_s, data)
                if chunk is not None:
                    yield chunk
        finally:
            stop.cancel()
            lost.cancel()

    def _handle(self, decoder: Any, host_s: float, data: bytes) -> PodSamples | None:
        try:
            packet: DecodedPacket | None = decoder.decode(data)
        except DecodeError as exc:
            self.counters.decode_errors += 1
            reasons = self.counters.decode_error_reasons
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            log.warning("pod %s: undecodable packet (%s), %d bytes", self.name, exc, len(data))
            return None
        if packet is None or packet.acc_m_s2 is None:
            return None
        n = packet.n_samples
        if packet.sample_period_s:
            self.sampling_rate_hz = 1.0 / packet.sample_period_s
        if packet.seq is not None and packet.tick is not None:
            update = self.clock.observe(packet.seq, packet.tick, host_s)
            if update.duplicate:
                self.counters.duplicates += 1
                return None
            pod_s = update.pod_time_s
            if self.profile.timestamps.tick_refers_to == "last":
                pod_s -= (n - 1) / self.sampling_rate_hz
        else:  # no pod clock: extrapolate from the sample count
            pod_s = self._next_index / self.sampling_rate_hz
            self.clock.observe(self.counters.packets_received, 0, host_s - pod_s)
        self.counters.packets_received = self.clock.packets_received
        self.counters.packets_lost = self.clock.packets_lost
        if self._pod_time0_s is None:
            self._pod_time0_s = pod_s
        first = round((pod_s - self._pod_time0_s) * self.sampling_rate_hz)
        gap = first - self._next_index
        acc = packet.acc_m_s2
        gyr = packet.gyr_deg_s
        if gap < 0:  # overlap with what we already have: keep only the new part
            acc = acc[-gap:]
            gyr = None if gyr is None else gyr[-gap:]
            first, gap = self._next_index, 0
            if acc.shape[0] == 0:
                return None
        self._next_index = first + acc.shape[0]
        self.counters.samples += acc.shape[0]
        if gap > 0:
            self.counters.gaps += 1
            self.counters.gap_samples += gap
        rot_t = self._rotation.T
        return PodSamples(
            first_index=first,
            gap_samples=gap,
            acc_m_s2=acc @ rot_t,
            gyr_deg_s=None if gyr is None else gyr @ rot_t,
            clipped=packet.clipped,
        )
