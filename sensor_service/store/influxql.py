"""Build InfluxQL safely: quoted identifiers, quoted literals and a tiny SELECT builder.

Never put a name or a value into a query with an f-string; use :func:`quote_ident` for
identifiers (measurements, tags, fields, databases), :func:`quote_literal` for string values,
or the :class:`Select` builder::

    q = (
        Select("steps", "gct_ms", Agg("mean", "cadence_spm", alias="cadence"))
        .where_tags({"athlete": athlete, "run": run})
        .where_time(start_ns=t0, end_ns=t1)
        .group_by("pod")
        .group_by_time("1m")
        .limit(100)
        .build()
    )

Quoting follows InfluxQL's scanner (``influxql.QuoteIdent`` / ``QuoteString``): inside
``"..."`` and ``'...'`` the escapes are ``\\\\``, ``\\"`` / ``\\'`` and ``\\n``; a value like
``x' OR 1=1 --`` therefore stays one string literal and matches nothing.

:class:`Raw` marks a trusted fragment inserted verbatim (for Grafana macros such as
``$timeFilter`` or ``$__interval``); never build a :class:`Raw` from user input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AGGREGATES",
    "Agg",
    "Cond",
    "Raw",
    "Select",
    "create_database",
    "drop_database",
    "quote_ident",
    "quote_literal",
    "show_tag_values",
    "time_literal",
    "value_literal",
]

_IDENT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_DURATION_RE = re.compile(r"^[0-9]+(ns|u|µ|ms|s|m|h|d|w)$")

#: Aggregate and selector functions the builder accepts (case-insensitive).
AGGREGATES = frozenset(
    {
        "count",
        "distinct",
        "first",
        "integral",
        "last",
        "max",
        "mean",
        "median",
        "min",
        "mode",
        "percentile",
        "spread",
        "stddev",
        "sum",
    }
)
_OPERATORS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
_FILLS = frozenset({"null", "none", "previous", "linear"})


@dataclass(frozen=True, slots=True)
class Raw:
    """A trusted InfluxQL fragment inserted verbatim (e.g. ``Raw("$timeFilter")``)."""

    text: str


def quote_ident(name: str) -> str:
    """Quote an identifier: ``steps`` → ``"steps"``, ``a"b`` → ``"a\\"b"``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"identifier must be a non-empty string, got {name!r}")
    return '"' + name.translate(_IDENT_ESCAPES) + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal: ``x' OR 1=1 --`` → ``'x\\' OR 1=1 --'``."""
    if not isinstance(value, str):
        raise ValueError(f"string literal must be a str, got {type(value).__name__}")
    return "'" + value.translate(_STRING_ESCAPES) + "'"


def value_literal(value: str | int | float | bool) -> str:
    """A literal for comparisons: strings quoted, numbers and booleans bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_literal(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot compare with {value!r}; InfluxQL has no NaN or infinity")
        return repr(value)
    raise ValueError(f"unsupported literal type {type(value).__name__}")


def time_literal(ts_ns: int) -> str:
    """An absolute time as epoch nanoseconds (InfluxQL's default unit for bare integers)."""
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise ValueError(f"time must be integer nanoseconds, got {ts_ns!r}")
    return str(ts_ns)


def _duration(value: str | Raw) -> str:
    if isinstance(value, Raw):
        return value.text
    if not isinstance(value, str) or _DURATION_RE.fullmatch(value) is None:
        raise ValueError(f"invalid duration {value!r}: use e.g. '10s', '1m', '1h', '1d'")
    return value


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregate column: ``Agg("mean", "gct_ms", alias="gct")`` → ``MEAN("gct_ms") AS "gct"``.

    ``arg`` is the numeric second argument of ``percentile`` (e.g. 95).
    """

    function: str
    field: str
    alias: str | None = None
    arg: int | float | None = None

    def render(self) -> str:
        func = self.function.lower()
        if func not in AGGREGATES:
            raise ValueError(
                f"unknown aggregate {self.function!r}; use one of {sorted(AGGREGATES)}"
            )
        inner = quote_ident(self.field)
        if self.arg is not None:
            inner += f", {value_literal(self.arg)}"
        elif func == "percentile":
            raise ValueError("percentile needs arg=<0..100>")
        text = f"{func.upper()}({inner})"
        if self.alias is not None:
            text += f" AS {quote_ident(self.alias)}"
        return text


@dataclass(frozen=True, slots=True)
class Cond:
    """One comparison ``"key" op literal``; several values mean ``("k" = 'a' OR "k" = 'b')``."""

    key: str
    op: str
    values: tuple[str | int | float | bool, ...]

    def render(self) -> str:
        if self.op not in _OPERATORS:
            raise ValueError(f"unsupported operator {self.op!r}; use one of {sorted(_OPERATORS)}")
        if not self.values:
            raise ValueError(f"condition on {self.key!r} has no values")
        ident = quote_ident(self.key)
        parts = [f"{ident} {self.op} {value_literal(v)}" for v in self.values]
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _source(measurement: str, database: str | None, retention_policy: str | None) -> str:
    if database is not None:
        rp = quote_ident(retention_policy) if retention_policy is not None else ""
        return f"{quote_ident(database)}.{rp}.{quote_ident(measurement)}"
    if retention_policy is not None:
        return f"{quote_ident(retention_policy)}.{quote_ident(measurement)}"
    return quote_ident(measurement)


class Select:
    """Immutable builder for ``SELECT ... FROM ... WHERE ... GROUP BY ...``.

    Each method returns a new builder; :meth:`build` (or ``str()``) renders the statement.
    Columns are field/tag names (quoted), :class:`Agg`, or :class:`Raw`; none means ``*``.
    """

    __slots__ = (
        "columns",
        "conditions",
        "database",
        "descending",
        "end_ns",
        "fill_value",
        "interval",
        "measurement",
        "retention_policy",
        "row_limit",
        "start_ns",
        "tags_group",
        "tz_name",
    )

    def __init__(
        self,
        measurement: str,
        *columns: str | Agg | Raw,
        database: str | None = None,
        retention_policy: str | None = None,
    ) -> None:
        quote_ident(measurement)
        self.measurement = measurement
        self.columns: tuple[str | Agg | Raw, ...] = tuple(columns) or ("*",)
        for col in self.columns:
            if isinstance(col, Agg):
                col.render()
            elif isinstance(col, str) and col != "*":
                quote_ident(col)
        self.database = database
        self.retention_policy = retention_policy
        self.conditions: tuple[Cond | Raw, ...] = ()
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.tags_group: tuple[str, ...] = ()
        self.interval: str | Raw | None = None
        self.fill_value: str | int | float | None = None
        self.descending = False
        self.row_limit: int | None = None
        self.tz_name: str | None = None

    def _with(self, **changes: object) -> Select:
        new = object.__new__(Select)
        for name in self.__slots__:
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new

    def __repr__(self) -> str:
        return f"Select({self.build()!r})"

    # -- conditions (AND-ed) ----------------------------------------------------------

    def where(self, key: str, op: str, *values: str | int | float | bool) -> Select:
        """``"key" op value`` (several values are OR-ed). Strings become quoted literals."""
        cond = Cond(key, op, tuple(values))
        cond.render()  # validate now, not at build time
        return self._with(conditions=(*self.conditions, cond))

    def where_tags(self, tags: Mapping[str, str | Sequence[str]] | None) -> Select:
        """Equality on each tag; a sequence value means any of those values."""
        out = self
        for key, value in (tags or {}).items():
            values = (value,) if isinstance(value, str) else tuple(value)
            out = out.where(key, "=", *values)
        return out

    def where_raw(self, fragment: Raw) -> Select:
        """A trusted condition such as ``Raw("$timeFilter")``; must be a :class:`Raw`."""
        if not isinstance(fragment, Raw):
            raise TypeError("where_raw takes a Raw fragment; use where()/where_tags() for values")
        return self._with(conditions=(*self.conditions, fragment))

    def where_time(self, *, start_ns: int | None = None, end_ns: int | None = None) -> Select:
        """``time >= start_ns`` and ``time < end_ns`` (half-open), epoch nanoseconds."""
        if start_ns is not None:
            time_literal(start_ns)
        if end_ns is not None:
            time_literal(end_ns)
        return self._with(start_ns=start_ns, end_ns=end_ns)

    # -- grouping, ordering ---------------------------------------------------------

    def group_by(self, *tags: str) -> Select:
        for tag in tags:
            quote_ident(tag)
        return self._with(tags_group=(*self.tags_group, *tags))

    def group_by_time(self, interval: str | Raw) -> Select:
        _duration(interval)
        return self._with(interval=interval)

    def fill(self, value: Literal["null", "none", "previous", "linear"] | int | float) -> Select:
        if isinstance(value, str):
            if value not in _FILLS:
                raise ValueError(f"fill must be a number or one of {sorted(_FILLS)}")
        else:
            value_literal(value)
        return self._with(fill_value=value)

    def order_desc(self) -> Select:
        return self._with(descending=True)

    def limit(self, n: int) -> Select:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"limit must be a positive int, got {n!r}")
        return self._with(row_limit=n)

    def tz(self, name: str) -> Select:
        """``tz('Europe/Berlin')`` for day boundaries in GROUP BY time."""
        return self._with(tz_name=name)

    # -- rendering --------------------------------------------------------------------

    def build(self) -> str:
        cols = []
        for col in self.columns:
            if isinstance(col, Agg):
                cols.append(col.render())
            elif isinstance(col, Raw):
                cols.append(col.text)
            elif col == "*":
                cols.append("*")
            else:
                cols.append(quote_ident(col))
        # Every piece below is quoted or validated above: this is the one safe place.
        text = f"SELECT {', '.join(cols)} FROM "  # noqa: S608
        text += _source(self.measurement, self.database, self.retention_policy)
        where = [c.text if isinstance(c, Raw) else c.render() for c in self.conditions]
        if self.start_ns is not None:
            where.append(f"time >= {time_literal(self.start_ns)}")
        if self.end_ns is not None:
            where.append(f"time < {time_literal(self.end_ns)}")
        if where:
            text += " WHERE " + " AND ".join(where)
        group = []
        if self.interval is not None:
            group.append(f"time({_duration(self.interval)})")
        group.extend(quote_ident(t) for t in self.tags_group)
        if group:
            text += " GROUP BY " + ", ".join(group)
        if self.fill_value is not None:
            fill = self.fill_value
            text += f" fill({fill if isinstance(fill, str) else value_literal(fill)})"
        if self.descending:
            text += " ORDER BY time DESC"
        if self.row_limit is not None:
            text += f" LIMIT {self.row_limit}"
        if self.tz_name is not None:
            text += f" tz({quote_literal(self.tz_name)})"
        return text

    def __str__(self) -> str:
        return self.build()


def create_database(name: str) -> str:
    """``CREATE DATABASE "name"`` (idempotent on the server)."""
    return f"CREATE DATABASE {quote_ident(name)}"


def drop_database(name: str) -> str:
    return f"DROP DATABASE {quote_ident(name)}"


def show_tag_values(
    measurement: str, key: str, where: Mapping[str, str | Sequence[str]] | None = None
) -> str:
    """``SHOW TAG VALUES FROM "m" WITH KEY = "k" [WHERE ...]``."""
    text = f"SHOW TAG VALUES FROM {quote_ident(measurement)} WITH KEY = {quote_ident(key)}"
    conds = [
        Cond(k, "=", (v,) if isinstance(v, str) else tuple(v)).render()
        for k, v in (where or {}).items()
    ]
    if conds:
        text += " WHERE " + " AND ".join(conds)
    return text
