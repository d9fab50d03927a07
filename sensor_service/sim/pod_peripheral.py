"""Simulated pods on the bumble virtual link: the shared machinery and the ``footpod-imu/1`` pod.

:class:`SimulatedPodBase` is what every simulated pod shares, whatever its vendor protocol
(``sensor_service.sim.vendor_pods`` holds one subclass per firmware profile): a bumble
peripheral on the running loop's virtual link (BLE-NOTES pitfalls 1, 4, 5) that advertises its
name and service UUIDs, tracks the connection and the subscriptions of each characteristic,
sends protocol responses as notifications or indications, and streams its *sample source* in
real time (scaled by ``speed``) through a protocol encoder.

Behaviour a reader can rely on, for every simulated pod:

* Once its stream is started (by a command or a subscription, per protocol), the pod keeps
  measuring until stopped, across link loss and reconnects: notifications produced while no
  central is subscribed are lost (counted in :attr:`SimulatedPodBase.packets_dropped`), as on a
  real pod. At the end of the source (``read`` returns None) the pod stays connected and stops
  sending (:attr:`SimulatedPodBase.finished`).
* The output rate may differ from the source rate: the source is resampled by sample-and-hold.
* The pod paces itself with absolute deadlines and awaits the link's drain every few
  packets, so the unbounded bumble send queue cannot grow (BLE-NOTES pitfall 12).

:class:`SimulatedPod` speaks ``footpod-imu/1`` (FIRMWARE.md §0): it serves info / battery /
control point, and once started (control point ``01``) streams notifications of 19 samples
(at ATT MTU 247):

* Samples are converted to int16 counts with the pod's scales (acc ±16 g at 2048 LSB/g,
  gyro ±2000 deg/s at 16.384 LSB/deg/s) and saturated; a packet with a saturated value
  has flag bit1 set.
* The pod clock runs from power-on: ``t_pod_us = clock_offset_us + t * 1e6 * (1 +
  clock_drift_ppm / 1e6)`` for a sample measured ``t`` seconds (simulated) after
  power-on; it wraps at 2**32, and the sequence number at 2**16.
* A reconnecting reader sees a sequence gap of exactly the packets it missed. ``01`` on an
  already streaming pod changes nothing.
* ``03 <u16 rate_hz>`` sets the output rate; the info characteristic reports it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from bumble import att, gatt
from bumble.device import Connection, Device
from numpy.typing import NDArray

from sensor_service.ble.bumble_backend import (
    create_virtual_peripheral,
    remove_virtual_peripheral,
    start_advertising,
)
from sensor_service.errors import ConfigError
from sensor_service.frames import axis_code
from sensor_service.sim.footpod_codec import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    CMD_SET_RATE,
    CMD_START,
    CMD_STOP,
    CONTROL_UUID,
    DATA_UUID,
    INFO_UUID,
    SERVICE_UUID,
    SIDE_CODES,
    encode_info,
    encode_packet,
    samples_per_packet,
    to_raw,
)

__all__ = ["MAX_RATE_HZ", "Notification", "SampleSource", "SimulatedPod", "SimulatedPodBase"]

logger = logging.getLogger(__name__)

MAX_RATE_HZ = 3200
"""Highest rate the footpod-imu/1 control point accepts, in Hz."""

_DRAIN_EVERY_PACKETS = 8
_ATT_APP_ERROR_UNKNOWN_COMMAND = 0x80
_ATT_APP_ERROR_FINISHED = 0x81

Notification = tuple[gatt.Characteristic[bytes], bytes]
"""One value to send: the characteristic and its bytes."""


class SampleSource(Protocol):
    """What a pod streams: consecutive samples at ``sampling_rate_hz``."""

    sampling_rate_hz: float

    def read(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Next ``n`` samples (fewer at the end) as (acc m/s², gyr deg/s); None after the end."""
        ...


class _Resampler:
    """Reads a source at any output rate by sample-and-hold (identity at the source rate)."""

    def __init__(self, source: SampleSource) -> None:
        self._source = source
        self.source_rate_hz = float(source.sampling_rate_hz)
        self._acc: NDArray[np.float64] = np.empty((0, 3))
        self._gyr: NDArray[np.float64] = np.empty((0, 3))
        self._base = 0  # source index of buffer row 0
        self._cursor = 0.0  # source index (fractional) of the next output sample
        self._ended = False

    def read(
        self, n: int, rate_hz: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        step = self.source_rate_hz / rate_hz
        idx = np.floor(self._cursor + np.arange(n) * step + 1e-9).astype(np.int64)
        have = self._base + len(self._acc)
        need = int(idx[-1]) + 1
        if need > have and not self._ended:
            chunk = self._source.read(need - have)
            if chunk is None:
                self._ended = True
            else:
                acc, gyr = chunk
                self._acc = np.concatenate([self._acc, np.asarray(acc, dtype=np.float64)])
                self._gyr = np.concatenate([self._gyr, np.asarray(gyr, dtype=np.float64)])
                if len(acc) < need - have:
                    self._ended = True
        idx = idx[idx < self._base + len(self._acc)]
        if idx.size == 0:
            return None
        acc_out = self._acc[idx - self._base]
        gyr_out = self._gyr[idx - self._base]
        self._cursor += idx.size * step
        drop = min(math.floor(self._cursor + 1e-9) - self._base, len(self._acc))
        if drop > 0:
            self._acc = self._acc[drop:]
            self._gyr = self._gyr[drop:]
            self._base += drop
        return acc_out, gyr_out


def _side_code(side: str | int) -> int:
    if isinstance(side, str) and side in SIDE_CODES:
        return SIDE_CODES[side]
    if isinstance(side, int) and not isinstance(side, bool) and side in SIDE_CODES.values():
        return side
    raise ConfigError(f"side {side!r} is not one of {sorted(SIDE_CODES)} (or codes 0..2)")


class SimulatedPodBase(abc.ABC):
    """A simulated pod on the running loop's virtual link; subclasses speak one protocol.

    Lifecycle: ``async with pod:`` (or ``await pod.start()`` / ``await pod.close()``, alias
    ``stop()``); connect with bleak to :attr:`address`.

    A subclass provides :meth:`_build_services` (its GATT services, built with :meth:`_char`),
    :attr:`advertised_uuids`, :meth:`_encode` (one chunk of samples → notifications) and,
    optionally, :meth:`_samples_per_packet`. Its protocol responders call
    :meth:`_start_stream` / :meth:`_cancel_stream` and :meth:`_respond`.

    Keyword arguments: ``name`` (advertised local name), ``source`` (:class:`SampleSource`),
    ``rate_hz`` (output rate; default the source's), ``address`` (default: a fresh unique one),
    ``speed`` (simulated seconds per real second; tests run faster), ``battery_pct``.
    """

    #: Firmware profile (``firmware_profiles/<name>.toml``) the pod answers.
    profile_name: str = ""

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        rate_hz: float | None = None,
        address: str | None = None,
        speed: float = 1.0,
        battery_pct: int = 87,
    ) -> None:
        if speed <= 0:
            raise ConfigError(f"speed {speed} must be > 0 (1.0 is real time)")
        source_rate = float(source.sampling_rate_hz)
        if not source_rate > 0:
            raise ConfigError(f"source rate {source_rate} Hz must be > 0")
        rate = source_rate if rate_hz is None else float(rate_hz)
        if not rate > 0:
            raise ConfigError(f"rate {rate} Hz must be > 0")
        if not 0 <= battery_pct <= 100:
            raise ConfigError(f"battery_pct {battery_pct} is not in 0..100")
        self.name = name
        self.speed = float(speed)
        self.battery_pct = int(battery_pct)
        self.sampling_rate_hz = rate
        """Output rate in Hz (the protocol may change it)."""
        self._requested_address = address
        self._address: str | None = None
        self._source = source
        self._resampler = _Resampler(source)
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._subscriptions: dict[int, tuple[bool, bool]] = {}
        self._att_mtu = 247
        self._boot_time = 0.0
        self._task: asyncio.Task[None] | None = None
        self._responses: set[asyncio.Task[None]] = set()
        self.samples_streamed = 0
        """Output samples taken from the source so far (sample k is at k / rate in the run)."""
        self.packets_sent = 0
        """Notifications handed to a subscribed link."""
        self.packets_dropped = 0
        """Notifications produced while no central was subscribed (lost, as on a real pod)."""
        self.finished = False
        """True once the source has ended; the pod sends nothing more."""

    # -- subclass hooks ---------------------------------------------------------------

    @property
    @abc.abstractmethod
    def advertised_uuids(self) -> list[str]:
        """Service UUIDs in the advertising data."""

    @abc.abstractmethod
    def _build_services(self) -> list[gatt.Service]:
        """The GATT services (called once, at :meth:`start`)."""

    @abc.abstractmethod
    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        """Notifications for one chunk of samples (acc m/s², gyr deg/s, pod frame).

        ``t_first_s`` is the simulated time of the first sample since power-on; the samples
        follow at :attr:`sampling_rate_hz`. Called whether or not a central listens.
        """

    def _samples_per_packet(self, att_mtu: int) -> int:
        """Samples per :meth:`_encode` call for a link of ``att_mtu``."""
        return 1

    def _on_link_up(self) -> None:  # noqa: B027 - optional hook
        """Called on a new connection (protocol state tied to a connection resets here)."""

    def _on_link_down(self) -> None:  # noqa: B027 - optional hook
        """Called when the connection ends (link loss or disconnect)."""

    # -- lifecycle --------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The pod's Bluetooth address (known once started)."""
        if self._address is None:
            raise RuntimeError(f"pod {self.name!r} has no address yet: start it first")
        return self._address

    @property
    def streaming(self) -> bool:
        """True between a start and a stop (also while the link is down)."""
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        """True while a central is connected."""
        return self._connection is not None

    async def start(self) -> None:
        """Power on the pod on the virtual link of the running loop and advertise."""
        if self._device is not None:
            return
        device = await create_virtual_peripheral(name=self.name, address=self._requested_address)
        self._boot_time = asyncio.get_running_loop().time()
        self._address = str(device.random_address.to_string(False))
        device.add_services(self._build_services())
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._device = device
        await start_advertising(device, name=self.name, service_uuids=self.advertised_uuids)

    async def close(self) -> None:
        """Stop streaming, drop the link and power the pod off."""
        await self._stop_stream()
        for task in list(self._responses):
            task.cancel()
        device = self._device
        if device is None:
            return
        self._device = None
        self._connection = None
        await remove_virtual_peripheral(device)

    async def stop(self) -> None:
        """Same as :meth:`close` (power the pod off)."""
        await self.close()

    async def __aenter__(self) -> SimulatedPodBase:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- GATT helpers -----------------------------------------------------------------

    def _char(
        self,
        uuid: str,
        properties: gatt.Characteristic.Properties,
        *,
        read: Callable[[], bytes] | None = None,
        write: Callable[[bytes], None] | None = None,
    ) -> gatt.Characteristic[bytes]:
        """A characteristic whose subscriptions are tracked; ``read``/``write`` give its value.

        ``write`` may raise :class:`bumble.att.ATT_Error` to refuse a write (with response).
        """
        permissions = gatt.Characteristic.Permissions(0)
        if read is not None:
            permissions |= gatt.Characteristic.READABLE
        if write is not None:
            permissions |= gatt.Characteristic.WRITEABLE
        value: Any = b""
        if read is not None or write is not None:
            value = gatt.CharacteristicValue(
                read=None if read is None else (lambda _conn: read()),
                write=None if write is None else (lambda _conn, data: write(bytes(data))),
            )
        char: gatt.Characteristic[bytes] = gatt.Characteristic(uuid, properties, permissions, value)
        char.on(char.EVENT_SUBSCRIPTION, self._subscription_listener(char))
        return char

    def _battery_service(self) -> gatt.Service:
        """Battery Service 0x180F with Battery Level 0x2A19 (read)."""
        level = self._char(
            BATTERY_LEVEL_UUID,
            gatt.Characteristic.Properties.READ,
            read=lambda: bytes([self.battery_pct]),
        )
        return gatt.Service(BATTERY_SERVICE_UUID, [level])

    def _subscription_listener(
        self, char: gatt.Characteristic[bytes]
    ) -> Callable[[Any, bool, bool], None]:
        def listener(bearer: Any, notify: bool, indicate: bool) -> None:
            if bearer is self._connection:
                was = self.subscribed(char)
                self._subscriptions[char.handle] = (notify, indicate)
                self._on_subscription(char, was, notify or indicate)

        return listener

    def _on_subscription(  # noqa: B027 - optional hook
        self, char: gatt.Characteristic[bytes], was: bool, now: bool
    ) -> None:
        """A central enabled (``now``) or disabled notifications/indications of ``char``."""

    def subscribed(self, char: gatt.Characteristic[bytes]) -> bool:
        """Whether the connected central receives notifications or indications of ``char``."""
        notify, indicate = self._subscriptions.get(char.handle, (False, False))
        return self._connection is not None and (notify or indicate)

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._subscriptions = {}
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection())
        self._on_link_up()

    def _on_disconnection(self) -> None:
        self._connection = None
        self._subscriptions = {}
        self._on_link_down()

    def _respond(self, char: gatt.Characteristic[bytes], value: bytes) -> None:
        """Send a protocol response on ``char`` soon (after the current write is answered).

        Sent as an indication when the central enabled indications, else as a notification;
        dropped (not counted) when nobody listens.
        """
        connection = self._connection
        if connection is None or not self.subscribed(char) or self._device is None:
            logger.debug("pod %s: response %s dropped, nobody subscribed", self.name, value.hex())
            return
        device = self._device
        _, indicate = self._subscriptions.get(char.handle, (False, False))

        async def send() -> None:
            await asyncio.sleep(0)  # let the ATT write response go first
            with contextlib.suppress(Exception):
                if indicate:
                    await device.indicate_subscriber(connection, char, value)
                else:
                    await device.notify_subscriber(connection, char, value)

        task = asyncio.get_running_loop().create_task(send(), name=f"pod-{self.name}-response")
        self._responses.add(task)
        task.add_done_callback(self._responses.discard)

    # -- streaming --------------------------------------------------------------------

    def _start_stream(self) -> None:
        """Start measuring (idempotent); returns at once."""
        if not self.streaming and not self.finished:
            self._task = asyncio.get_running_loop().create_task(
                self._stream(), name=f"pod-{self.name}"
            )

    def _cancel_stream(self) -> None:
        """Stop measuring (from a synchronous protocol handler)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _stop_stream(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.sampling_rate_hz
        # Simulated seconds since power-on of the first sample, and samples since then.
        anchor_s = (loop.time() - self._boot_time) * self.speed
        count = 0
        since_drain = 0
        while True:
            if self.sampling_rate_hz != rate:
                anchor_s += count / rate
                count = 0
                rate = self.sampling_rate_hz
            if self._connection is not None and any(
                notify or indicate for notify, indicate in self._subscriptions.values()
            ):
                # Packets are sized for the subscribed link (its MTU exchange is done by
                # then); unsent ones keep the last size.
                self._att_mtu = int(self._connection.att_mtu)
            n = self._samples_per_packet(self._att_mtu)
            # The packet leaves once its last sample has been measured. Nothing is taken
            # from the source before the wait, so a stop during it loses no sample.
            due = self._boot_time + (anchor_s + (count + n - 1) / rate) / self.speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.sampling_rate_hz != rate:
                continue  # re-anchor at the new rate first
            chunk = self._resampler.read(n, rate)
            if chunk is None:
                self.finished = True
                return
            acc, gyr = chunk
            t_first_s = anchor_s + count / rate
            count += len(acc)
            notifications = self._encode(acc, gyr, t_first_s)
            self.samples_streamed += len(acc)
            for char, packet in notifications:
                connection = self._connection
                if connection is None or not self.subscribed(char) or self._device is None:
                    self.packets_dropped += 1
                    continue
                await self._device.notify_subscriber(connection, char, packet)
                self.packets_sent += 1
                since_drain += 1
            if since_drain >= _DRAIN_EVERY_PACKETS or (delay < 0 and since_drain):
                since_drain = 0
                connection = self._connection
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.drain()


class SimulatedPod(SimulatedPodBase):
    """A ``footpod-imu/1`` pod (FIRMWARE.md §0) on the running loop's virtual link.

    Use as ``async with SimulatedPod(name=..., source=...) as pod:`` (or ``await
    pod.start()`` / ``await pod.close()``); connect with bleak to :attr:`address`.

    Keyword arguments: ``name`` (advertised local name), ``source`` (:class:`SampleSource`),
    ``address`` (default: a fresh unique one), ``side`` ("left"/"right"/"unknown" or 0..2),
    ``forward_axis`` / ``left_axis`` (pod axes toward the toe / the runner's left, "+x" or
    codes 0..5), ``battery_pct``, ``firmware`` (major, minor, patch), ``gyro`` (False: an
    accelerometer-only pod), ``clock_drift_ppm`` / ``clock_offset_us`` (pod clock against
    true time), ``speed`` (simulated seconds per real second; tests run faster),
    ``initial_sequence`` (e.g. 65534 to see the sequence wrap at once).
    """

    profile_name = "footpod-imu-v1"

    def __init__(
        self,
        *,
        name: str,
        source: SampleSource,
        address: str | None = None,
        side: str | int = "unknown",
        forward_axis: str | int = "+x",
        left_axis: str | int = "+y",
        battery_pct: int = 87,
        firmware: tuple[int, int, int] = (1, 0, 0),
        gyro: bool = True,
        clock_drift_ppm: float = 0.0,
        clock_offset_us: int = 0,
        speed: float = 1.0,
        initial_sequence: int = 0,
    ) -> None:
        rate = float(source.sampling_rate_hz)
        if not 1 <= round(rate) <= MAX_RATE_HZ:
            raise ConfigError(f"source rate {rate} Hz is not in 1..{MAX_RATE_HZ} Hz")
        super().__init__(
            name=name, source=source, address=address, speed=speed, battery_pct=battery_pct
        )
        self.side = _side_code(side)
        self.forward_axis = axis_code(forward_axis)
        self.left_axis = axis_code(left_axis)
        self.firmware = firmware
        self.gyro = gyro
        self.clock_drift_ppm = float(clock_drift_ppm)
        self.clock_offset_us = int(clock_offset_us)
        # Validate the info fields now rather than on the first read.
        self.info_bytes()
        self._data_char: gatt.Characteristic[bytes] | None = None
        self._sequence = int(initial_sequence)

    @property
    def sequence(self) -> int:
        """Sequence number of the next packet (mod 2**16 on the wire)."""
        return self._sequence

    @property
    def advertised_uuids(self) -> list[str]:
        return [SERVICE_UUID]

    async def __aenter__(self) -> SimulatedPod:
        await self.start()
        return self

    # -- GATT -------------------------------------------------------------------------

    def info_bytes(self) -> bytes:
        """The info characteristic value (current rate, battery and mounting)."""
        return encode_info(
            sampling_rate_hz=round(self.sampling_rate_hz),
            side=self.side,
            forward_axis=self.forward_axis,
            left_axis=self.left_axis,
            battery_pct=self.battery_pct,
            firmware=self.firmware,
        )

    def _build_services(self) -> list[gatt.Service]:
        props = gatt.Characteristic.Properties
        self._data_char = self._char(DATA_UUID, props.NOTIFY)
        info_char = self._char(INFO_UUID, props.READ, read=self.info_bytes)
        control_char = self._char(CONTROL_UUID, props.WRITE, write=self._on_control)
        return [
            gatt.Service(SERVICE_UUID, [self._data_char, info_char, control_char]),
            self._battery_service(),
        ]

    def _on_control(self, value: bytes) -> None:
        if not value:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        command = value[0]
        if command == CMD_START and len(value) == 1:
            if self.finished:
                raise att.ATT_Error(_ATT_APP_ERROR_FINISHED)
            self._start_stream()
        elif command == CMD_STOP and len(value) == 1:
            self._cancel_stream()
        elif command == CMD_SET_RATE and len(value) == 3:
            rate = struct.unpack_from("<H", value, 1)[0]
            if not 1 <= rate <= MAX_RATE_HZ:
                raise att.ATT_Error(att.ErrorCode.VALUE_NOT_ALLOWED)
            self.sampling_rate_hz = float(rate)
        elif command in (CMD_START, CMD_STOP, CMD_SET_RATE):
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        else:
            raise att.ATT_Error(_ATT_APP_ERROR_UNKNOWN_COMMAND)

    # -- streaming --------------------------------------------------------------------

    def _pod_time_us(self, t_s: float) -> int:
        scale = 1.0 + self.clock_drift_ppm * 1e-6
        return (self.clock_offset_us + round(t_s * 1e6 * scale)) & 0xFFFFFFFF

    def _samples_per_packet(self, att_mtu: int) -> int:
        return samples_per_packet(att_mtu)

    def _encode(
        self, acc: NDArray[np.float64], gyr: NDArray[np.float64], t_first_s: float
    ) -> Sequence[Notification]:
        assert self._data_char is not None
        acc_raw, gyr_raw, clipped = to_raw(acc, gyr if self.gyro else None)
        packet = encode_packet(
            self._sequence, self._pod_time_us(t_first_s), acc_raw, gyr_raw, clipped
        )
        self._sequence += 1
        return [(self._data_char, packet)]
