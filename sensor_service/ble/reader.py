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
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from sensor_service.ble.backend import backend_kwargs
from sensor_service.ble.timeline import PodSamples, SampleTimeline
from sensor_service.errors import ConfigError, DecodeError, FootpodError
from sensor_service.profiles import (
    G_M_S2,
    DecodedPacket,
    Profile,
    RscMeasurement,
    parse_footpod_info,
)

__all__ = [
    "PodReader",
    "PodSamples",
    "ReaderCounters",
    "RscReading",
    "reconnect_delay_s",
    "settable_rates_hz",
]

log = logging.getLogger(__name__)


class PodUnavailableError(FootpodError, RuntimeError):
    """The pod cannot be used (not found, MTU too small, start sequence refused)."""


@dataclass(frozen=True, slots=True)
class RscReading:
    """One Running Speed and Cadence measurement, stamped on arrival (host epoch ns)."""

    ts_ns: int
    rsc: RscMeasurement


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


def settable_rates_hz(profile: Profile) -> tuple[float, ...]:
    """Rates the reader can ask this pod for: the profile's allowed rates when its start
    sequence sends ``{sampling_rate_hz}``, else only its default (the sequence fixes it)."""
    default = float(profile.rates.default_hz or 100.0)
    sends_rate = any("{sampling_rate_hz" in step.hex + step.ascii for step in profile.start)
    if not sends_rate:
        return (default,)
    return tuple(float(r) for r in profile.rates.allowed_hz) or (default,)


def reconnect_delay_s(
    attempt: int,
    error: BaseException | None,
    *,
    cap_s: float = 10.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """How long to wait before reconnect ``attempt`` (0-based) after ``error``.

    A pure function of its arguments (``jitter`` supplies the randomness, a uniform [0, 1)):
    capped exponential backoff with "equal jitter" (half fixed, half random), so many pods
    lost at once do not reconnect in lockstep. Returns ``-1`` when the error is not worth
    retrying: a pod that cannot work (MTU, refused start) or a programming error.
    """
    if isinstance(error, PodUnavailableError | TypeError | ValueError | AttributeError):
        return -1.0
    base = min(cap_s, 0.1 * (2 ** min(attempt, 10)))
    return float(base * (0.5 + 0.5 * jitter()))


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
        on_rsc: Callable[[RscReading], None] | None = None,
        sampling_rate_hz: float | None = None,
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
        self._responses: deque[tuple[str, bytes]] = deque(maxlen=64)
        self._response_seen = asyncio.Event()
        self._disconnected = asyncio.Event()
        self.counters = ReaderCounters()
        self.timeline = SampleTimeline(
            profile.timestamps,
            sampling_rate_hz=float(profile.rates.default_hz or 100.0),
            rotation=profile.mounting.rotation(),
            expects_gyro=profile.capabilities.gyro,
        )
        self._on_rsc = on_rsc or (lambda _reading: None)
        if sampling_rate_hz is not None:
            allowed_rates = settable_rates_hz(profile)
            if sampling_rate_hz not in allowed_rates:
                allowed = ", ".join(f"{r:g}" for r in allowed_rates)
                raise ConfigError(
                    f"pod {name}: {sampling_rate_hz:g} Hz is not a rate of profile "
                    f"{profile.name} (allowed: {allowed})"
                )
            self._decoder_params["sampling_rate_hz"] = float(sampling_rate_hz)
            self.timeline.sampling_rate_hz = float(sampling_rate_hz)
        self.battery_pct: float | None = None
        #: Accelerometer saturation in m/s² when the pod says its range (clipping detection).
        self.acc_clip_limit_m_s2: float | None = None
        #: Signal strength seen when the pod was last found (dBm), where the stack reports it.
        self.rssi_dbm: float | None = None

    # ------------------------------------------------------------------ public
    @property
    def gap_s_total(self) -> float:
        """Seconds of samples missing so far."""
        return self.counters.gap_samples / self.sampling_rate_hz

    @property
    def sampling_rate_hz(self) -> float:
        return self.timeline.sampling_rate_hz

    def index_to_epoch_ns(self, index: float) -> int:
        """Host epoch time (ns) of a sample index of this stream."""
        return self.timeline.index_to_epoch_ns(index)

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
            self._decoder_params.update(info.decoder_params())
            if not self.timeline.started:
                self.timeline.sampling_rate_hz = float(info.sampling_rate_hz)
                self.timeline.rotation = self.profile.mounting.with_axes(
                    info.forward_axis, info.left_axis
                ).rotation()
            self.battery_pct = float(info.battery_pct)
            self.acc_clip_limit_m_s2 = float(info.acc_range_g) * G_M_S2
        elif gatt.battery is not None:
            with contextlib.suppress(BleakError):
                self.battery_pct = float((await client.read_gatt_char(gatt.battery))[0])

    async def _run_steps(self, client: BleakClient, steps: Any) -> None:
        params: dict[str, Any] = {**self.profile.default_params(), **self._decoder_params}
        params.setdefault("sampling_rate_hz", self.sampling_rate_hz)
        for step in steps:
            try:
                if step.action == "write":
                    await client.write_gatt_char(
                        step.uuid, step.payload(params), response=step.response
                    )
                elif step.action == "subscribe":
                    await client.start_notify(step.uuid, self._notify_handler(step.uuid))
                elif step.action == "unsubscribe":
                    await client.stop_notify(step.uuid)
                elif step.action == "read":
                    await client.read_gatt_char(step.uuid)
                elif step.action == "sleep":
                    await asyncio.sleep(step.s)
                elif step.action == "wait_response":
                    await self._wait_response(step.uuid, step.prefix_bytes(params), step.timeout_s)
            except (BleakError, TimeoutError):
                if not step.optional:
                    raise

    def _notify_handler(self, uuid: str) -> Callable[[object, bytearray], None]:
        """Every notification goes to the decoder's queue (control responses carry
        parameters, e.g. Polar's scale factor); those of other characteristics than the data
        one are also kept for :meth:`_wait_response`."""
        if uuid == self.profile.gatt.data:
            return self._on_notify

        def on_response(char: object, data: bytearray) -> None:
            self._responses.append((uuid, bytes(data)))
            self._response_seen.set()
            self._on_notify(char, data)

        return on_response

    async def _wait_response(self, uuid: str, prefix: bytes, timeout_s: float) -> None:
        """Wait for a notification on ``uuid`` starting with ``prefix`` (e.g. status ok)."""
        seen: list[bytes] = []
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    while self._responses:
                        char, data = self._responses.popleft()
                        if char == uuid and data.startswith(prefix):
                            return
                        seen.append(data)
                    self._response_seen.clear()
                    await self._response_seen.wait()
        except TimeoutError:
            pass
        raise TimeoutError(
            f"pod {self.name}: no response {prefix.hex(' ')} on {uuid} within {timeout_s:g} s"
            + (f" (got {', '.join(d.hex(' ') for d in seen[-3:])})" if seen else "")
        )

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
                for chunk in self._handle(decoder, host_s, data):
                    yield chunk
        finally:
            stop.cancel()
            lost.cancel()

    def _handle(self, decoder: Any, host_s: float, data: bytes) -> list[PodSamples]:
        try:
            packet: DecodedPacket | None = decoder.decode(data)
        except DecodeError as exc:
            self.counters.decode_errors += 1
            reasons = self.counters.decode_error_reasons
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            log.warning("pod %s: undecodable packet (%s), %d bytes", self.name, exc, len(data))
            return []
        if packet is None:
            return []
        if packet.rsc is not None:
            self._on_rsc(RscReading(round(host_s * 1e9), packet.rsc))
            return []
        chunks = self.timeline.push(packet, host_s)
        t = self.timeline.counters
        c = self.counters
        c.packets_received, c.packets_lost, c.duplicates = (
            t.packets_received,
            t.packets_lost,
            t.duplicates,
        )
        c.samples, c.gaps, c.gap_samples = t.samples, t.gaps, t.gap_samples
        return chunks
