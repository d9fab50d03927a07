"""Raw IMU payload encodings: JSON against the compact binary ``ImuBatch`` (int16 + scales).

Run: ``.venv/bin/python benchmarks/bench_imu_encoding.py [--rate 104] [--seconds 1]``

One message carries ``rate * seconds`` samples of 6 channels (accelerometer m/s², gyroscope
deg/s) from the gait simulator's foot signal. Measured per sample, best of 7 repetitions:

* **bytes** on the wire (and zlib-compressed, for reference: MQTT does not compress);
* **encode**: from the float arrays the pipeline holds to the payload bytes (binary:
  quantise to int16 with numpy, ``encode_imu_batch``; JSON: values rounded to 3 decimals,
  about the int16 resolution, ``json.dumps``);
* **decode**: from payload bytes to validated per-sample rows ready for InfluxDB (binary:
  ``message_to_series``, the ingest's own path; JSON: ``json.loads`` plus the type and
  finiteness checks a validator must make, and the same rows).

Prints a table, then one JSON line per encoding.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sensor_service.contracts import (
    IMU_FIELDS,
    ImuBatch,
    encode_imu_batch,
    message_to_series,
    topic,
)
from sensor_service.sim.gait import GaitSimulator, RunnerParams
from sensor_service.sim.sources import FootSampleSource

ATHLETE, POD, RUN = "ana", "ana-left", "run-2026-11-26"
T0_NS = 1_764_000_000_000_000_000
ACC_SCALE = 16 * 9.80665 / 32767
GYR_SCALE = 2000.0 / 32767


def signal(rate_hz: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    sim = GaitSimulator(RunnerParams(), duration_s=max(4.0, n / rate_hz + 2), seed=1)
    source = FootSampleSource(sim, "left", sampling_rate_hz=rate_hz)
    source.read(int(2 * rate_hz))  # skip the start
    chunk = source.read(n)
    assert chunk is not None
    acc, gyr = chunk
    return np.asarray(acc, float), np.asarray(gyr, float)


def encode_binary(acc: np.ndarray, gyr: np.ndarray, period_ns: float) -> bytes:
    values = np.hstack([acc / ACC_SCALE, gyr / GYR_SCALE])
    counts = np.clip(np.rint(values), -32767, 32767).astype(np.int16)
    batch = ImuBatch(
        ATHLETE,
        POD,
        RUN,
        T0_NS,
        period_ns,
        ACC_SCALE,
        GYR_SCALE,
        True,
        tuple(counts.ravel().tolist()),
    )
    return encode_imu_batch(batch)


def encode_json(acc: np.ndarray, gyr: np.ndarray, period_ns: float) -> bytes:
    samples = np.round(np.hstack([acc, gyr]), 3).tolist()
    obj = {
        "v": 2,
        "athlete": ATHLETE,
        "pod": POD,
        "run": RUN,
        "t0_ns": T0_NS,
        "period_ns": period_ns,
        "fields": list(IMU_FIELDS),
        "samples": samples,
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def decode_binary(payload: bytes) -> list[tuple[int, Any]]:
    (series,) = message_to_series(topic("imu", ATHLETE, POD), payload)
    return list(series.rows)


def decode_json(payload: bytes) -> list[tuple[int, Any]]:
    obj = json.loads(payload)
    if obj.get("v") != 2 or obj.get("athlete") != ATHLETE or obj.get("pod") != POD:
        raise ValueError("header")
    t0, period = obj["t0_ns"], obj["period_ns"]
    if type(t0) is not int or not math.isfinite(period):
        raise ValueError("time")
    rows = []
    isfinite = math.isfinite
    for i, sample in enumerate(obj["samples"]):
        if len(sample) != 6:
            raise ValueError("sample")
        for v in sample:
            if type(v) not in (float, int) or not isfinite(v):
                raise ValueError("value")
        rows.append((t0 + round(i * period), dict(zip(IMU_FIELDS, sample, strict=True))))
    return rows


def best_us(fn: Callable[[], object], per: int, repeat: int = 7) -> float:
    loops = max(1, int(20000 / per))
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t) / loops)
    return best / per * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=104.0, help="samples per second")
    parser.add_argument("--seconds", type=float, default=1.0, help="samples per message / rate")
    args = parser.parse_args()
    n = max(1, round(args.rate * args.seconds))
    acc, gyr = signal(args.rate, n)
    period = 1e9 / args.rate
    results = []
    for name, enc, dec in (
        ("json", encode_json, decode_json),
        ("binary", encode_binary, decode_binary),
    ):
        payload = enc(acc, gyr, period)
        rows = dec(payload)
        assert len(rows) == n
        results.append(
            {
                "encoding": name,
                "samples_per_message": n,
                "bytes_per_message": len(payload),
                "bytes_per_sample": round(len(payload) / n, 1),
                "zlib_bytes_per_sample": round(len(zlib.compress(payload)) / n, 1),
                "encode_us_per_sample": round(best_us(lambda enc=enc: enc(acc, gyr, period), n), 2),
                "decode_us_per_sample": round(best_us(lambda dec=dec, p=payload: dec(p), n), 2),
                "bytes_per_s_per_pod": round(len(payload) / args.seconds),
            }
        )
    print(
        f"{'encoding':8} {'B/sample':>9} {'zlib B/s.':>9} {'enc µs/s.':>9} {'dec µs/s.':>9} "
        f"{'kB/s/pod':>9}"
    )
    for r in results:
        print(
            f"{r['encoding']:8} {r['bytes_per_sample']:9} {r['zlib_bytes_per_sample']:9} "
            f"{r['encode_us_per_sample']:9} {r['decode_us_per_sample']:9} "
            f"{r['bytes_per_s_per_pod'] / 1000:9.1f}"
        )
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
