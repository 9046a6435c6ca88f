#!/usr/bin/env bash
# The test suite CI runs: ruff (pyproject.toml's rules), then unit tests, the spec/runner/resume checks and one
# short learning test per algorithm. `./run_tests.sh -m slow` runs the long learning tests instead; extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup.sh
"$PY" -m ruff check .
exec "$PY" -m pytest -m "not slow" "$@"
