#!/usr/bin/env bash
# The test suite CI runs: unit tests, the spec/runner/resume checks and one short learning test
# per algorithm. `./run_tests.sh -m slow` runs the long learning tests instead; extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup.sh
exec "$PY" -m pytest -m "not slow" "$@"
