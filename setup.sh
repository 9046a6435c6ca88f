#!/usr/bin/env bash
# Creates .venv (if there is none) and installs the pinned dependencies into it; a no-op when
# requirements.txt has not changed since the last install. Sourced by run_all.sh and run_tests.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"
# One install at a time: run_all.sh and run_tests.sh started together would otherwise both install
# into the same .venv and leave it half-written.
exec 9>"$root/.venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned dependencies (about a minute the first time)"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # torch first and pinned: any other torch requirement would pull a multi-GB CUDA build.
  "$venv/bin/python" -m pip install --quiet torch==2.13.0
  "$venv/bin/python" -m pip install --quiet -r "$root/requirements.txt"
  echo "$want" > "$stamp"
fi
flock -u 9
exec 9>&-
PY="$venv/bin/python"
export PY
