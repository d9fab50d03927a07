"""Encode :class:`~sensor_service.contracts.Point` into InfluxDB line protocol.

Format: ``measurement[,tag=value...] field=value[,field=value...] timestamp_ns``.

Escaping follows the line-protocol reference and was checked against a real influxd 1.6:

=====================  ===============================  =====================================
element                escaped                          refused (:class:`LineProtocolError`)
=====================  ===============================  =====================================
measurement            ``,`` and space                  empty; leading ``#`` (a comment line)
tag key, tag value     ``,`` ``=`` and space            empty key; key ``time``
field key              ``,`` ``=`` and space            empty; ``time``
string field value     ``"`` and ``\\``                  nothing: newlines are kept verbatim
                                                        inside the quotes, which the parser
                                                        allows (there is no ``\\n`` escape)
=====================  ===============================  =====================================

Also refused, with a message naming the point and the element:

* ``\\n`` or ``\\r`` in the measurement, a tag key or value, or a field key (they would split
  the line);
* a backslash right before ``,``, ``=``, space, or at the very end, in those same elements:
  the server reads it as an escape and either rejects the line or stores a different string,
  so such names cannot round-trip (other backslashes are kept verbatim and round-trip);
* NaN and +/-infinity (InfluxDB rejects them), integers outside int64, values of other types,
  a point without fields, a timestamp outside InfluxDB's range.

Decisions: tags are sorted by key (InfluxDB's preferred order); a tag whose value is the empty
string is **omitted**, since an empty tag and an absent tag are the same thing in InfluxDB (an
InfluxQL ``"tag" = ''`` matches both). Integers get the ``i`` suffix, booleans are
``true``/``false``, floats use :func:`repr` (shortest round-trip form, e.g. ``0.1``, ``1e+20``),
timestamps are integer nanoseconds (write with ``precision=ns``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from sensor_service.contracts import Point
from sensor_service.errors import StoreError

__all__ = [
    "MAX_TIMESTAMP_NS",
    "MIN_TIMESTAMP_NS",
    "LineProtocolError",
    "encode_field_value",
    "encode_point",
    "encode_points",
    "escape_field_key",
    "escape_measurement",
    "escape_tag",
]

#: InfluxDB's representable time range (models.MinNanoTime / MaxNanoTime).
MIN_TIMESTAMP_NS = -9_223_372_036_854_775_806
MAX_TIMESTAMP_NS = 9_223_372_036_854_775_806
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_SPECIAL_AFTER_BACKSLASH = frozenset(", =")
_RESERVED_KEYS = frozenset({"time"})


class LineProtocolError(StoreError, ValueError):
    """A point cannot be encoded faithfully; never retryable (fix the data)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise LineProtocolError(f"{what} must be a string, got {type(value).__name__}")
    if "\n" in value or "\r" in value:
        raise LineProtocolError(f"{what} {value!r} contains a newline; remove it")
    for i, ch in enumerate(value):
        if ch == "\\" and (i + 1 == len(value) or value[i + 1] in _SPECIAL_AFTER_BACKSLASH):
            raise LineProtocolError(
                f"{what} {value!r} has a backslash before ',', '=', a space or the end; "
                "InfluxDB would read it as an escape, so it cannot be stored faithfully"
            )
    return value


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces)."""
    _check_name(name, "measurement")
    if not name:
        raise LineProtocolError("measurement must not be empty")
    if name.startswith("#"):
        raise LineProtocolError(
            f"measurement {name!r} starts with '#': InfluxDB would skip the line as a comment"
        )
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_tag(text: str, what: str = "tag") -> str:
    """Escape a tag key or tag value (commas, equals signs, spaces)."""
    return _check_name(text, what).translate(_KEY_ESCAPES)


def escape_field_key(key: str) -> str:
    """Escape a field key (commas, equals signs, spaces)."""
    _check_name(key, "field key")
    if not key:
        raise LineProtocolError("field key must not be empty")
    if key in _RESERVED_KEYS:
        raise LineProtocolError(f"field key {key!r} is reserved by InfluxDB; rename it")
    return key.translate(_KEY_ESCAPES)


def encode_field_value(value: object, key: str = "?") -> str:
    """Encode one field value: ``1i``, ``1.5``, ``true``, ``"text"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.translate(_STRING_ESCAPES) + '"'
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise LineProtocolError(f"field {key!r}: integer {number} does not fit in int64")
        return f"{number}i"
    if isinstance(value, numbers.Real):
        real = float(value)
        if not math.isfinite(real):
            raise LineProtocolError(
                f"field {key!r}: {real!r} is not finite; InfluxDB rejects NaN and infinity "
                "(omit the field instead)"
            )
        return repr(real)
    raise LineProtocolError(
        f"field {key!r}: unsupported type {type(value).__name__}; use int, float, bool or str"
    )


def encode_point(point: Point) -> str:
    """Encode one point as a single line (without the trailing newline)."""
    where = f"point {point.measurement!r}"
    try:
        parts = [escape_measurement(point.measurement)]
        for key in sorted(point.tags):
            value = point.tags[key]
            if not isinstance(key, str) or not key:
                raise LineProtocolError(f"tag key {key!r} must be a non-empty string")
            if key in _RESERVED_KEYS:
                raise LineProtocolError(f"tag key {key!r} is reserved by InfluxDB; rename it")
            if not isinstance(value, str):
                raise LineProtocolError(
                    f"tag {key!r} value must be a string, got {type(value).__name__}"
                )
            if value == "":
                continue  # an empty tag is an absent tag in InfluxDB
            parts.append(f",{escape_tag(key, 'tag key')}={escape_tag(value, f'tag {key!r} value')}")
        if not point.fields:
            raise LineProtocolError("a point needs at least one field")
        fields = ",".join(
            f"{escape_field_key(k)}={encode_field_value(v, k)}" for k, v in point.fields.items()
        )
        ts = point.ts_ns
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise LineProtocolError(f"ts_ns must be an int (nanoseconds), got {ts!r}")
        if not MIN_TIMESTAMP_NS <= ts <= MAX_TIMESTAMP_NS:
            raise LineProtocolError(f"ts_ns {ts} is outside InfluxDB's time range")
    except LineProtocolError as exc:
        raise LineProtocolError(f"{where}: {exc}") from None
    return f"{''.join(parts)} {fields} {ts}"


def encode_points(points: Iterable[Point]) -> str:
    """Encode points as newline-terminated lines, ready for ``/write``."""
    return "".join(encode_point(p) + "\n" for p in points)
