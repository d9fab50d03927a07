#!/usr/bin/env bash
# Run the footpod demo: simulated runners through the whole pipeline on private local services.
# Arguments go to 'footpod demo' (e.g. --runners 3 --minutes 2 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/footpod demo "$@"
