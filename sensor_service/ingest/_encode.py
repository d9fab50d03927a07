"""Line protocol for the ingest hot path: byte-identical to ``store.line_protocol``, faster.

A steps message holds many points of one series (same measurement and tags) with the same
field keys, so the series key and the escaped field keys are encoded once and cached (through
the store's own escaping and checks, so the rules stay in one place); values take a fast path
by exact type and fall back to the store's ``encode_field_value`` for anything unusual (which
also raises its errors). :meth:`LineEncoder.encode_series` encodes a
:class:`~sensor_service.contracts.Series` straight from its rows (the validated payload
objects), without a ``Point`` per point; a row the fast path cannot take is encoded by the
store's ``encode_point`` (which raises the store's error). ``tests/bus/test_encode.py`` checks
both outputs equal ``encode_points`` on hostile inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from sensor_service.contracts import Point, Series
from sensor_service.store.line_protocol import (
    MAX_TIMESTAMP_NS,
    MIN_TIMESTAMP_NS,
    LineProtocolError,
    encode_field_value,
    encode_point,
    escape_field_key,
)

__all__ = ["LineEncoder"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_CACHE_MAX: Final = 4096


class LineEncoder:
    """Encode points to line protocol, caching series keys and field keys."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self._keys: dict[str, str] = {}
        #: Per skip set: field name -> ``escaped key=`` ("" for a skipped name).
        self._heads: dict[frozenset[str], dict[str, str]] = {}

    def _series_key(self, point: Point) -> str:
        return self._series_prefix(point.measurement, point.tags)

    def _series_prefix(self, measurement: str, tags: dict[str, str]) -> str:
        ident = (measurement, tuple(sorted(tags.items())))
        key = self._series.get(ident)
        if key is None:
            # The store's encoder builds (and checks) the measurement and tags: take its
            # prefix, up to the first unescaped space, from a one-field probe point.
            probe = encode_point(Point(measurement, tags, {"x": 1}, 0))
            key = probe[: -len(" x=1i 0")]
            if len(self._series) >= _CACHE_MAX:
                self._series.clear()
            self._series[ident] = key
        return key

    def _field_key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            key = escape_field_key(name)
            if len(self._keys) >= _CACHE_MAX:
                self._keys.clear()
            self._keys[name] = key
        return key

    def encode(self, points: Iterable[Point]) -> bytes:
        out: list[str] = []
        # The points of one message usually share their tags dict: one series-key lookup.
        last: tuple[str, dict[str, str]] | None = None
        series = ""
        for point in points:
            try:
                if last is None or point.tags is not last[1] or point.measurement != last[0]:
                    series = self._series_key(point)
                    last = (point.measurement, point.tags)
                out.append(self._line(point, series))
            except LineProtocolError as exc:
                raise LineProtocolError(f"point {point.measurement!r}: {exc}") from None
        return "".join(out).encode()

    def _line(self, point: Point, series: str) -> str:
        if not point.fields:
            raise LineProtocolError("a point needs at least one field")
        fields = []
        keys = self._keys
        for name, value in point.fields.items():
            kind = type(value)
            if kind is float and math.isfinite(value):  # type: ignore[arg-type]
                text = repr(value)
            elif kind is bool:
                text = "true" if value else "false"
            elif kind is int and _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
                text = f"{value}i"
            else:
                text = encode_field_value(value, name)
            key = keys.get(name)
            if key is None:
                key = self._field_key(name)
            fields.append(f"{key}={text}")
        ts = point.ts_ns
        if type(ts) is not int or not MIN_TIMESTAMP_NS <= ts <= MAX_TIMESTAMP_NS:
            return encode_point(point) + "\n"  # the store's encoder raises the right error
        return f"{series} {','.join(fields)} {ts}\n"

    def encode_series(self, series: Iterable[Series]) -> bytes:
        """Encode series row by row: the same bytes as ``encode_points`` of their points."""
        out: list[str] = []
        append = out.append
        for one in series:
            if not one.rows:
                continue
            prefix = self._series_prefix(one.measurement, one.tags)  # raises the store's error
            skip = one.skip
            for ts, fields in one.rows:
                line = self._row(prefix, ts, fields, skip)
                if line is None:  # not the common case: the store's encoder decides (or raises)
                    fields_only = {k: v for k, v in fields.items() if k not in skip}
                    line = encode_point(Point(one.measurement, one.tags, fields_only, ts)) + "\n"
                append(line)
        return "".join(out).encode()

    def _row(
        self, prefix: str, ts: int, fields: Mapping[str, Any], skip: frozenset[str]
    ) -> str | None:
        """One line, or None when anything is unusual (the caller takes the store's path)."""
        if type(ts) is not int or not MIN_TIMESTAMP_NS <= ts <= MAX_TIMESTAMP_NS:
            return None
        heads = self._heads.get(skip)
        if heads is None:
            heads = self._heads[skip] = {}
        parts = []
        isfinite = math.isfinite
        for name, value in fields.items():
            head = heads.get(name)
            if head is None:
                if len(heads) >= _CACHE_MAX:
                    heads.clear()
                try:
                    head = heads[name] = "" if name in skip else self._field_key(name) + "="
                except LineProtocolError:
                    return None
            if not head:
                continue  # a skipped key (e.g. a step's ic_ns)
            kind = type(value)
            if kind is float and isfinite(value):
                parts.append(head + repr(value))
            elif kind is bool:
                parts.append(head + ("true" if value else "false"))
            elif kind is int and _INT64_MIN <= value <= _INT64_MAX:
                parts.append(f"{head}{value}i")
            else:
                return None
        if not parts:
            return None
        return f"{prefix} {','.join(parts)} {ts}\n"
