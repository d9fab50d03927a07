"""InfluxQL quoting and the SELECT builder; injection attempts against a real influxd."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sensor_service.contracts import Point
from sensor_service.store.influxql import (
    Agg,
    Raw,
    Select,
    create_database,
    quote_ident,
    quote_literal,
    show_tag_values,
    value_literal,
)
from sensor_service.store.line_protocol import encode_points

INJECTIONS = [
    "x' OR 1=1 --",
    'x\' OR "athlete" =~ /.*/ --',
    "' OR ''='",
    'x\\\' OR "athlete" =~ /.*/ --',
    'x\'; DROP DATABASE "footpod"; --',
    'x\n\' OR "athlete" =~ /.*/',
]


def test_quote_ident() -> None:
    assert quote_ident("steps") == '"steps"'
    assert quote_ident('a"b') == r'"a\"b"'
    assert quote_ident("a\\b") == r'"a\\b"'
    assert quote_ident("a\nb") == r'"a\nb"'
    with pytest.raises(ValueError, match="non-empty"):
        quote_ident("")


def test_quote_literal() -> None:
    assert quote_literal("ana") == "'ana'"
    assert quote_literal("x' OR 1=1 --") == r"'x\' OR 1=1 --'"
    assert quote_literal("a\\'b") == r"'a\\\'b'"
    assert quote_literal("a\nb") == r"'a\nb'"
    assert quote_literal("") == "''"
    with pytest.raises(ValueError, match="str"):
        quote_literal(1)  # type: ignore[arg-type]


def test_value_literal() -> None:
    assert value_literal(True) == "true"
    assert value_literal(3) == "3"
    assert value_literal(0.25) == "0.25"
    assert value_literal("a") == "'a'"
    with pytest.raises(ValueError, match="NaN"):
        value_literal(float("nan"))


def test_select_builder_full() -> None:
    q = (
        Select("steps", "gct_ms", Agg("mean", "cadence_spm", alias="cadence"))
        .where_tags({"athlete": "ana", "pod": ["p1", "p2"]})
        .where("gct_ms", ">", 100.0)
        .where_time(start_ns=10, end_ns=20)
        .group_by_time("1m")
        .group_by("side")
        .fill("null")
        .order_desc()
        .limit(5)
        .tz("Europe/Berlin")
        .build()
    )
    assert q == (
        'SELECT "gct_ms", MEAN("cadence_spm") AS "cadence" FROM "steps" '
        'WHERE "athlete" = \'ana\' AND ("pod" = \'p1\' OR "pod" = \'p2\') AND "gct_ms" > 100.0 '
        'AND time >= 10 AND time < 20 GROUP BY time(1m), "side" fill(null) '
        "ORDER BY time DESC LIMIT 5 tz('Europe/Berlin')"
    )


def test_select_defaults_and_sources() -> None:
    assert Select("m").build() == 'SELECT * FROM "m"'
    assert str(Select("m", "v", retention_policy="autogen")) == 'SELECT "v" FROM "autogen"."m"'
    assert Select("m", database="db").build() == 'SELECT * FROM "db".."m"'
    assert Select("m", Agg("percentile", "v", arg=95)).build() == (
        'SELECT PERCENTILE("v", 95) FROM "m"'
    )
    grafana = Select("m", Agg("mean", "v")).where_raw(Raw("$timeFilter"))
    assert grafana.group_by_time(Raw("$__interval")).build() == (
        'SELECT MEAN("v") FROM "m" WHERE $timeFilter GROUP BY time($__interval)'
    )


def test_builder_is_immutable() -> None:
    base = Select("m")
    narrowed = base.where_tags({"a": "b"})
    assert base.build() == 'SELECT * FROM "m"'
    assert narrowed.build() == 'SELECT * FROM "m" WHERE "a" = \'b\''


@pytest.mark.parametrize(
    "make",
    [
        lambda: Select("m", Agg("drop", "v")),
        lambda: Select("m", Agg("percentile", "v")),
        lambda: Select("m").group_by_time("1 m; DROP"),
        lambda: Select("m").where("a", "OR", "b"),
        lambda: Select("m").where("a", "="),
        lambda: Select("m").limit(0),
        lambda: Select("m").fill("everything"),  # type: ignore[arg-type]
        lambda: Select("m").where_time(start_ns="now()"),  # type: ignore[arg-type]
        lambda: Select(""),
    ],
)
def test_builder_rejects_bad_input(make: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make()  # type: ignore[operator]


def test_where_raw_requires_raw() -> None:
    with pytest.raises(TypeError):
        Select("m").where_raw("1=1")  # type: ignore[arg-type]


def test_show_and_create() -> None:
    assert create_database('a"b') == r'CREATE DATABASE "a\"b"'
    assert show_tag_values("steps", "pod", {"athlete": "x'y"}) == (
        'SHOW TAG VALUES FROM "steps" WITH KEY = "pod" WHERE "athlete" = \'x\\\'y\''
    )


# --------------------------------------------------------------------------- real influxd


def _query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    body = httpx.post(f"{url}/query", data={"q": q, "db": db, "epoch": "ns"}, timeout=10).json()
    result = body["results"][0]
    assert "error" not in result, (q, result)
    return list(result.get("series", []))


@pytest.fixture
def two_athletes(influx_db: tuple[str, str]) -> tuple[str, str]:
    url, db = influx_db
    points = [
        Point("steps", {"athlete": name, "pod": "p1"}, {"gct_ms": 200.0 + i}, 1_000 + i)
        for i, name in enumerate(["ana", "bo", "x"])
    ]
    r = httpx.post(f"{url}/write", params={"db": db}, content=encode_points(points).encode())
    assert r.status_code == 204
    return url, db


@pytest.mark.integration
def test_naive_f_string_would_match_everything(two_athletes: tuple[str, str]) -> None:
    """The threat is real: a naive f-string turns a hostile value into a condition."""
    url, db = two_athletes
    value = 'x\' OR "athlete" =~ /.*/ --'
    naive = f'SELECT "gct_ms" FROM "steps" WHERE "athlete" = \'{value}\''
    assert len(_query(url, db, naive)[0]["values"]) == 3


@pytest.mark.integration
@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_matches_nothing(two_athletes: tuple[str, str], value: str) -> None:
    url, db = two_athletes
    q = Select("steps", "gct_ms").where_tags({"athlete": value}).build()
    assert _query(url, db, q) == []
    assert _query(url, db, show_tag_values("steps", "pod", {"athlete": value})) == []
    # and the database is still there
    assert len(_query(url, db, Select("steps").build())[0]["values"]) == 3


@pytest.mark.integration
def test_builder_queries_run(two_athletes: tuple[str, str]) -> None:
    url, db = two_athletes
    q = (
        Select("steps", Agg("count", "gct_ms", alias="n"), Agg("max", "gct_ms"))
        .where_tags({"athlete": ["ana", "bo"]})
        .where_time(start_ns=0, end_ns=2_000)
        .group_by("athlete")
        .build()
    )
    series = _query(url, db, q)
    got = {s["tags"]["athlete"]: s["values"][0][1:] for s in series}
    assert got == {"ana": [1, 200.0], "bo": [1, 201.0]}
    by_time = Select("steps", Agg("mean", "gct_ms")).where_time(start_ns=0, end_ns=10_000)
    assert (
        _query(url, db, by_time.group_by_time("1s").fill("none").build())[0]["values"][0][1]
        == 201.0
    )
