#!/usr/bin/env bash
# Run footpod's checks: ruff, mypy and the test suite (unit, integration against a private
# Mosquitto and InfluxDB started by the tests, BLE over the bumble virtual link, end to end).
# Extra arguments go to pytest (e.g. -k ingest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
