"""The Grafana dashboards: their JSON is well formed, and every query runs on a real InfluxDB.

Grafana cannot run here, so the queries are executed the way Grafana's InfluxDB datasource
sends them: template variables substituted (``/^$athlete$/`` gets the regex-escaped value),
``$timeFilter`` as ``time >= Xms and time <= Yms``, ``$__interval`` as a duration, over
``GET /query`` with ``epoch=ms``. The data is written through the project's own path:
payloads → :func:`message_to_points` → line protocol → ``/write``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sensor_service.contracts import (
    STEP_FIELDS,
    PodStatus,
    RunEvent,
    StepRecord,
    StepsBatch,
    message_to_points,
    topic,
)
from sensor_service.store.line_protocol import encode_points

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
DATASOURCE_YAML = REPO / "dashboards/provisioning/datasources/influxdb.yaml"

#: Grafana's own variables (and InfluxDB alias patterns) that need no templating entry.
BUILTIN_VARIABLES = frozenset(
    {"timeFilter", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
)
_VARIABLE_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _yaml_scalar(text: str, key: str) -> str:
    """The value of the one ``key: value`` line of a small provisioning file."""
    values = re.findall(rf"^\s*(?:- )?{key}:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert len(values) == 1, f"expected one {key!r} in the provisioning file, got {values}"
    return values[0]


def _datasource_uid() -> str:
    return _yaml_scalar(DATASOURCE_YAML.read_text(), "uid")


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def _variables_used(query: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VARIABLE_RE.finditer(query)}


def test_there_is_a_dashboard() -> None:
    assert [p.name for p in DASHBOARDS] == ["footpod-run.json"]


# --------------------------------------------------------------------------- provisioning


def test_datasource_provisioning() -> None:
    text = DATASOURCE_YAML.read_text()
    assert _yaml_scalar(text, "type") == "influxdb"
    assert _yaml_scalar(text, "url") == "http://influxdb:8086"
    assert _yaml_scalar(text, "database") == "footpod"
    assert _yaml_scalar(text, "dbName") == "footpod"
    assert _yaml_scalar(text, "version") == "InfluxQL"
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", _datasource_uid())


def test_dashboard_provider_is_a_file_provider() -> None:
    text = (REPO / "dashboards/provisioning/dashboards/footpod.yaml").read_text()
    assert _yaml_scalar(text, "type") == "file"
    assert _yaml_scalar(text, "path").startswith("/")
    # Where compose mounts the JSON: tests/security/test_compose_file.py.


# --------------------------------------------------------------------------- JSON structure


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_json_is_valid(path: Path) -> None:
    dash = _load(path)
    uid = _datasource_uid()
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dash["uid"])
    assert dash["title"]
    assert isinstance(dash["schemaVersion"], int)
    assert 36 <= dash["schemaVersion"] <= 39
    panels = list(_panels(dash))
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        grid = panel["gridPos"]
        assert {"x", "y", "w", "h"} <= set(grid), panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert 0 < grid["w"] <= 24 - grid["x"], panel["title"]
        assert panel["title"], panel["id"]
        if panel["type"] == "row":
            assert not panel.get("targets")
            continue
        assert panel["datasource"] == {"type": "influxdb", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no targets"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    for panel, target in _targets(dash):
        where = f"{panel['title']}/{target['refId']}"
        assert target["datasource"] == {"type": "influxdb", "uid": uid}, where
        assert target["rawQuery"] is True, where
        assert target["query"].lstrip().upper().startswith("SELECT"), where
        assert "$timeFilter" in target["query"], f"{where}: no $timeFilter"
    for var in dash["templating"]["list"]:
        assert var["datasource"] == {"type": "influxdb", "uid": uid}, var["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_variable_used_is_defined_before_use(path: Path) -> None:
    dash = _load(path)
    defined: list[str] = []
    for var in dash["templating"]["list"]:
        used = _variables_used(var["query"]) - BUILTIN_VARIABLES
        assert used <= set(defined), f"variable {var['name']} uses {used - set(defined)}"
        defined.append(var["name"])
    assert len(defined) == len(set(defined))
    for panel, target in _targets(dash):
        used = _variables_used(target["query"]) - BUILTIN_VARIABLES
        assert used <= set(defined), f"{panel['title']}: undefined variables {used}"


def test_run_dashboard_content() -> None:
    dash = _load(REPO / "dashboards/footpod-run.json")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["athlete"]["query"] == 'SHOW TAG VALUES FROM "steps" WITH KEY = "athlete"'
    assert variables["run"]["query"] == (
        'SHOW TAG VALUES FROM "steps" WITH KEY = "run" WHERE "athlete" =~ /^$athlete$/'
    )
    units = {"gct_ms": "ms", "flight_ms": "ms", "cadence_spm": "spm", "peak_accel_g": "accG"}
    seen: set[str] = set()
    for panel, target in _targets(dash):
        query = target["query"]
        if 'FROM "steps"' in query:  # one athlete's one run, never a mix
            assert '"athlete" =~ /^$athlete$/' in query, panel["title"]
            assert '"run" =~ /^$run$/' in query, panel["title"]
        if 'FROM "pod_status"' in query:
            assert '"athlete" =~ /^$athlete$/' in query, panel["title"]
        if "_est_" in query:  # load-model output: always labelled an estimate
            assert "ESTIMATE" in panel["title"], panel["title"]
            assert "estimate" in panel["description"].lower(), panel["title"]
            assert "BW" in panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        for name, unit in units.items():
            if query.startswith(f'SELECT mean("{name}")') and panel["type"] == "timeseries":
                assert unit in panel["fieldConfig"]["defaults"]["unit"], panel["title"]
                seen.add(name)
        if panel["type"] != "table":
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
    assert seen == set(units)
    fields = " ".join(t["query"] for _, t in _targets(dash))
    for name in ("gct_ms", "flight_ms", "cadence_spm", "peak_accel_g", "loading_rate_g_s"):
        assert f'"{name}"' in fields
    for name in ("at_force_est_bw", "at_impulse_est_bw_s", "clipped", "step_index"):
        assert f'"{name}"' in fields
    for name in ("packets_lost", "gaps", "battery_pct"):
        assert f'"{name}"' in fields
    assert "pain" not in fields  # pain logs and alerts are not stored by any code yet
    assert "alert" not in fields


def test_variable_scan_sees_every_form() -> None:
    q = "SELECT $a, ${b}, ${c:regex}, [[d]] FROM x WHERE $timeFilter AND y =~ /^$e$/"
    assert _variables_used(q) == {"a", "b", "c", "d", "e", "timeFilter"}


# --------------------------------------------------------------------------- data

T0_MS = 1_772_352_000_000  # 2026-03-01T08:00:00Z
MINUTE_MS = 60_000
STRIDE_MS = 700  # one foot: 171 steps/min for both feet


@dataclass
class Written:
    """What was written for one athlete's one run, per side: the values a panel may show."""

    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    run_impulse: float = 0.0
    batteries: list[float] = field(default_factory=list)

    def values(self, name: str, side: str | None = None) -> list[float]:
        sides = [side] if side else list(self.steps)
        return [s[name] for sd in sides for s in self.steps[sd] if name in s]

    def n_steps(self) -> int:
        return sum(len(v) for v in self.steps.values())

    def n_clipped(self) -> int:
        return sum(1 for sd in self.steps.values() for s in sd if s["clipped"])


#: (athlete, run, start offset in minutes, minutes, mean contact time left / right).
RUNS = (
    ("ana", "run-2026-03-01-ana", 0, 4, 240.0, 252.0),
    ("ana", "run-2026-03-01-ana-b", 90, 3, 200.0, 204.0),  # same athlete, later run
    ("bob", "run-2026-03-01-bob", 0, 5, 300.0, 312.0),  # same time, other athlete
)
BATTERY = {"ana": 90.0, "bob": 40.0}


def _step(rng: random.Random, ic_ms: int, i: int, gct_mean: float) -> StepRecord:
    gct = rng.uniform(gct_mean - 5.0, gct_mean + 5.0)
    step = STRIDE_MS / 2
    flight = step - gct + rng.uniform(-5.0, 5.0)
    fz = (3.141592653589793 / 2) * (flight / gct + 1.0)
    at_force = fz * 0.118 / 0.036
    fields: dict[str, float | int | bool] = {
        "gct_ms": gct,
        "flight_ms": flight,
        "step_ms": step + rng.uniform(-4.0, 4.0),
        "stride_ms": STRIDE_MS + rng.uniform(-6.0, 6.0),
        "cadence_spm": 60_000.0 / step + rng.uniform(-2.0, 2.0),
        "strike_angle_deg": rng.uniform(-5.0, 15.0),
        "peak_accel_g": rng.uniform(6.0, 14.0),
        "loading_rate_g_s": rng.uniform(300.0, 700.0),
        "fz_peak_bw": fz,
        "k_vert_kn_m": rng.uniform(20.0, 28.0),
        "k_leg_kn_m": rng.uniform(8.0, 11.0),
        "at_force_est_bw": at_force,
        "at_impulse_est_bw_s": at_force * 2 * gct / 1000 / 3.141592653589793,
        "clipped": i % 37 == 5,
        "step_index": i,
    }
    assert set(fields) == set(STEP_FIELDS)
    ic_ns = ic_ms * 1_000_000
    return StepRecord(ic_ns=ic_ns, to_ns=ic_ns + round(gct * 1e6), fields=fields)


def _messages() -> tuple[list[tuple[str, bytes]], dict[tuple[str, str], Written]]:
    """MQTT messages (topic, payload) of every run, and what each run wrote."""
    rng = random.Random(20260301)
    messages: list[tuple[str, bytes]] = []
    written: dict[tuple[str, str], Written] = {}
    for athlete, run, start_min, minutes, *gct in RUNS:
        w = written[athlete, run] = Written()
        start = T0_MS + start_min * MINUTE_MS
        end = start + minutes * MINUTE_MS
        total_impulse = 0.0
        for side, gct_mean, offset in (("left", gct[0], 0), ("right", gct[1], STRIDE_MS // 2)):
            pod = f"{athlete}-{side}"
            steps = [
                _step(rng, ic, i, gct_mean)
                for i, ic in enumerate(range(start + offset, end, STRIDE_MS))
            ]
            w.steps[side] = [s.fields for s in steps]
            total_impulse += sum(float(s.fields["at_impulse_est_bw_s"]) for s in steps)
            for k in range(0, len(steps), 25):  # batches as the pipeline publishes them
                batch = StepsBatch(athlete, pod, side, "foot", run, tuple(steps[k : k + 25]))
                messages.append((topic("steps", athlete, pod), orjson.dumps(batch.to_json())))
            for j, ts in enumerate(range(start, end, 5_000)):  # status every 5 s
                battery = BATTERY[athlete] - j * 0.05
                w.batteries.append(battery)
                status = PodStatus(
                    athlete=athlete,
                    pod=pod,
                    state="connected" if ts + 5_000 < end else "stopped",
                    ts_ns=ts * 1_000_000,
                    packets_received=j * 500,
                    packets_lost=j // 6,
                    battery_pct=battery,
                    rssi_dbm=-60.0 - rng.uniform(0.0, 10.0),
                    gaps=j // 12,
                    gap_s_total=0.2 * (j // 12),
                )
                messages.append((topic("status", athlete, pod), orjson.dumps(status.to_json())))
        w.run_impulse = total_impulse
        for event, ts, n, impulse in (
            ("start", start, 0, None),
            ("end", end, w.n_steps(), total_impulse),
        ):
            run_event = RunEvent(athlete, run, event, ts * 1_000_000, n, impulse)  # type: ignore[arg-type]
            messages.append((topic("runs", athlete), orjson.dumps(run_event.to_json())))
    return messages, written


MESSAGES, WRITTEN = _messages()
ANA = WRITTEN["ana", "run-2026-03-01-ana"]
BOB_RUN = "run-2026-03-01-bob"
BOB = WRITTEN["bob", BOB_RUN]
#: The dashboard's time range: both of ana's runs and bob's, so only the tag filters separate
#: them.
TIME_FILTER = f"time >= {T0_MS - 10 * MINUTE_MS}ms and time <= {T0_MS + 120 * MINUTE_MS}ms"
INTERVAL = "10s"


@pytest.fixture
def seeded(influx_db: tuple[str, str]) -> tuple[str, str]:
    url, db = influx_db
    points = [p for t, payload in MESSAGES for p in message_to_points(t, payload)]
    response = httpx.post(
        f"{url}/write",
        params={"db": db, "precision": "ns"},
        content=encode_points(points).encode(),
        timeout=30,
    )
    assert response.status_code == 204, response.text
    return url, db


def _regex_value(value: str) -> str:
    """What Grafana puts into ``/^$var$/`` for one value: the value, regex-escaped."""
    return re.sub(r"([\\^$.|?*+()\[\]{}/-])", r"\\\1", value)


def render(query: str, variables: dict[str, str]) -> str:
    """Substitute template variables as Grafana's InfluxDB datasource does (single values)."""
    out = query.replace("$timeFilter", TIME_FILTER).replace("$__interval", INTERVAL)
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(rf"(=~ /\^)\${name}(\$/)", rf"\g<1>{_regex_value(value)}\g<2>", out)
        out = out.replace(f"${{{name}}}", value).replace(f"${name}", value)
    leftover = _variables_used(out)
    assert not leftover, f"unsubstituted variables {leftover} in {out}"
    return out


def run_query(url: str, db: str, query: str) -> list[dict[str, Any]]:
    """Execute like Grafana does (GET /query, epoch=ms); fail on any error; return the series."""
    response = httpx.get(f"{url}/query", params={"db": db, "q": query, "epoch": "ms"}, timeout=30)
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{query}"
    body = response.json()
    assert "error" not in body, f"{body['error']}\n{query}"
    results = body["results"]
    assert len(results) == 1
    assert "error" not in results[0], f"{results[0]['error']}\n{query}"
    return results[0].get("series", [])  # type: ignore[no-any-return]


def _column(series: dict[str, Any], name: str) -> list[Any]:
    index = series["columns"].index(name)
    return [row[index] for row in series["values"] if row[index] is not None]


def _between(values: list[float], written: list[float], slack: float = 1e-9) -> None:
    assert values, "no values"
    lo, hi = min(written), max(written)
    for v in values:
        assert lo - slack <= v <= hi + slack, f"{v} outside the written range [{lo}, {hi}]"


# --------------------------------------------------------------------------- expectations
# One check per panel target ("title/refId"). A panel without one fails the test below, so a
# new panel cannot go untested.

Check = Callable[[list[dict[str, Any]]], None]


def _per_side(column: str, name: str, slack: float = 1e-9) -> Check:
    """A series per foot; every value within what ana's run wrote for that foot."""

    def check(series: list[dict[str, Any]]) -> None:
        assert {s["tags"]["side"] for s in series} == {"left", "right"}
        for s in series:
            assert s["columns"] == ["time", column]
            _between(_column(s, column), ANA.values(name, s["tags"]["side"]), slack)

    return check


def _one_value(column: str, expected: Callable[[float], bool]) -> Check:
    def check(series: list[dict[str, Any]]) -> None:
        assert len(series) == 1
        assert series[0]["columns"] == ["time", column]
        values = _column(series[0], column)
        assert len(values) == 1
        assert expected(values[0]), f"{column} = {values[0]}"

    return check


def _gct_bars(series: list[dict[str, Any]]) -> None:
    means = {s["tags"]["side"]: _column(s, "gct_ms")[0] for s in series}
    for side in ("left", "right"):
        written = ANA.values("gct_ms", side)
        assert means[side] == pytest.approx(sum(written) / len(written))


def _asymmetry_now(series: list[dict[str, Any]]) -> None:
    left, right = (sum(v) / len(v) for v in (ANA.values("gct_ms", sd) for sd in ("left", "right")))
    expected = 100 * abs(left - right) / ((left + right) / 2)
    assert 3.0 < expected < 7.0  # ana's feet differ by ~12 ms of ~246 ms
    _one_value("asymmetry_pct", lambda v: v == pytest.approx(expected))(series)


def _asymmetry_over_time(series: list[dict[str, Any]]) -> None:
    assert len(series) == 1
    assert series[0]["columns"] == ["time", "asymmetry_pct"]
    values = _column(series[0], "asymmetry_pct")
    assert len(values) >= 20  # 4 minutes of 10 s buckets
    assert 3.0 < sorted(values)[len(values) // 2] < 7.5  # median: ana, not bob or run b


def _cumulative(by_side: bool) -> Check:
    def check(series: list[dict[str, Any]]) -> None:
        if by_side:
            assert {s["tags"]["side"] for s in series} == {"left", "right"}
        else:
            assert len(series) == 1
        total = 0.0
        for s in series:
            assert s["columns"] == ["time", "at_impulse_cum_est_bw_s"]
            values = _column(s, "at_impulse_cum_est_bw_s")
            assert values == sorted(values), "a cumulative sum never decreases"
            total += values[-1]
        assert total == pytest.approx(ANA.run_impulse)

    return check


def _pod_counter(column: str) -> Check:
    def check(series: list[dict[str, Any]]) -> None:
        assert {s["tags"]["pod"] for s in series} == {"ana-left", "ana-right"}  # not bob's
        for s in series:
            assert s["columns"] == ["time", column]
            values = _column(s, column)
            assert values
            assert max(values) >= 1
            assert min(values) >= 0

    return check


def _battery(series: list[dict[str, Any]]) -> None:
    assert {s["tags"]["pod"] for s in series} == {"ana-left", "ana-right"}
    for s in series:
        _between(
            _column(s, "battery_pct"),
            WRITTEN["ana", "run-2026-03-01-ana-b"].batteries + ANA.batteries,
        )


def _status_table(series: list[dict[str, Any]]) -> None:
    assert {s["tags"]["pod"] for s in series} == {"ana-left", "ana-right"}
    for s in series:
        row = dict(zip(s["columns"], s["values"][0], strict=True))
        assert row["state"] == "stopped"  # the last status of ana's last run
        assert row["packets_lost"] >= 1
        assert row["gaps"] >= 1
        assert row["gap_s_total"] > 0
        assert 80 <= row["battery_pct"] <= 90
        assert -70 <= row["rssi_dbm"] <= -60
        assert row["packets_received"] > 0


EXPECT: dict[str, Check] = {
    "Steps (both feet)/A": _one_value("steps", lambda v: v == ANA.n_steps()),
    "Clipped steps/A": _one_value("clipped_steps", lambda v: v == ANA.n_clipped() > 0),
    "Contact time, left vs right (mean)/A": _gct_bars,
    "Contact-time asymmetry/A": _asymmetry_now,
    "Achilles impulse, run total — ESTIMATE/A": _one_value(
        "at_impulse_est_bw_s", lambda v: v == pytest.approx(ANA.run_impulse)
    ),
    "Contact time per foot/A": _per_side("gct_ms", "gct_ms"),
    "Contact-time asymmetry over time/A": _asymmetry_over_time,
    "Cadence/A": _per_side("cadence_spm", "cadence_spm"),
    "Flight time/A": _per_side("flight_ms", "flight_ms"),
    "Peak acceleration at impact/A": _per_side("peak_accel_g", "peak_accel_g"),
    "Loading-rate proxy (g/s)/A": _per_side("loading_rate_g_s", "loading_rate_g_s"),
    "Achilles tendon force — ESTIMATE/A": _per_side("at_force_est_bw", "at_force_est_bw"),
    "Cumulative Achilles impulse — ESTIMATE/A": _cumulative(by_side=True),
    "Cumulative Achilles impulse — ESTIMATE/B": _cumulative(by_side=False),
    "Packets lost/A": _pod_counter("packets_lost"),
    "Data gaps/A": _pod_counter("gaps"),
    "Battery/A": _battery,
    "Pod status (latest)/A": _status_table,
}

RUN_TARGETS = [
    pytest.param(panel, target, id=f"{panel['title']}/{target['refId']}")
    for path in DASHBOARDS
    for panel, target in _targets(_load(path))
]
RUN_TARGETS_RAW = list(_targets(_load(REPO / "dashboards/footpod-run.json")))
ANA_VARS = {"athlete": "ana", "run": "run-2026-03-01-ana"}


def test_every_target_has_an_expectation() -> None:
    keys = {f"{p['title']}/{t['refId']}" for p, t in _targets(_load(DASHBOARDS[0]))}
    assert keys == set(EXPECT)


@pytest.mark.integration
@pytest.mark.parametrize(("panel", "target"), RUN_TARGETS)
def test_panel_query_on_real_influxdb(
    seeded: tuple[str, str], panel: dict[str, Any], target: dict[str, Any]
) -> None:
    url, db = seeded
    series = run_query(url, db, render(target["query"], ANA_VARS))
    assert series, f"{panel['title']}: no series"
    EXPECT[f"{panel['title']}/{target['refId']}"](series)
    # The other athlete sees their own data only (no series may hold ana's values).
    other = run_query(url, db, render(target["query"], {"athlete": "bob", "run": BOB_RUN}))
    assert other, f"{panel['title']}: no series for bob"
    assert other != series


@pytest.mark.integration
def test_filters_separate_athletes_and_runs(seeded: tuple[str, str]) -> None:
    url, db = seeded
    query = next(t["query"] for p, t in RUN_TARGETS_RAW if p["title"] == "Contact time per foot")
    for (athlete, run), written in WRITTEN.items():
        series = run_query(url, db, render(query, {"athlete": athlete, "run": run}))
        for s in series:
            _between(_column(s, "gct_ms"), written.values("gct_ms", s["tags"]["side"]))
    # A run of another athlete selected by a stale URL: nothing, not the other's data.
    assert run_query(url, db, render(query, {"athlete": "ana", "run": BOB_RUN})) == []


@pytest.mark.integration
def test_template_variable_queries_on_real_influxdb(seeded: tuple[str, str]) -> None:
    url, db = seeded
    variables = {
        v["name"]: v for v in _load(REPO / "dashboards/footpod-run.json")["templating"]["list"]
    }

    def values(name: str, current: dict[str, str]) -> list[str]:
        series = run_query(url, db, render(variables[name]["query"], current))
        assert len(series) == 1
        assert series[0]["columns"] == ["key", "value"]
        assert {row[0] for row in series[0]["values"]} == {name}
        return sorted(row[1] for row in series[0]["values"])

    assert values("athlete", {}) == ["ana", "bob"]
    assert values("run", {"athlete": "ana"}) == ["run-2026-03-01-ana", "run-2026-03-01-ana-b"]
    assert values("run", {"athlete": "bob"}) == [BOB_RUN]


def test_render_substitutes_like_grafana() -> None:
    q = 'SELECT x FROM "steps" WHERE "run" =~ /^$run$/ AND $timeFilter GROUP BY time($__interval)'
    out = render(q, {"run": "run-1.a"})
    assert out == (
        f'SELECT x FROM "steps" WHERE "run" =~ /^run\\-1\\.a$/ AND {TIME_FILTER} GROUP BY time(10s)'
    )
    with pytest.raises(AssertionError, match="unsubstituted"):
        render("SELECT x FROM y WHERE a = '$nope'", {})
