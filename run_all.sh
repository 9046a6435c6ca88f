#!/usr/bin/env bash
# The main job: set up the environment if needed, run every experiment at one budget tier,
# then aggregate the results into RESULTS/TIER/report.md (tables + figures) and print the tables.
#
#   ./run_all.sh [--tier smoke|nightly|paper|reference|controls] [--only NAME[,NAME]] [--variants NAME[,NAME]]
#                [--seeds N] [--workers N] [--results DIR]
#                [--rerun-other-commits]
#
# The nightly tier ends with the regression alarm (python -m analysis regress) against the accepted baseline.
#
# Finished runs are kept: after an interruption, the same command resumes. `python -m runner --help`
# explains every option.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup.sh

# The runner reads every option; the two that say where the results go are read here too, so that
# the analysis reads the same directory.
tier=smoke
results=results
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --tier) tier="${args[$((i + 1))]:-smoke}" ;;
    --tier=*) tier="${args[$i]#--tier=}" ;;
    --results) results="${args[$((i + 1))]:-results}" ;;
    --results=*) results="${args[$i]#--results=}" ;;
    -h|--help) exec "$PY" -m runner --help ;;
  esac
done

status=0
"$PY" -m runner "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
  exit "$status"  # bad input (2) or interrupted (130): nothing to analyse
fi
"$PY" -m analysis "$results/$tier"
if [ "$tier" = nightly ]; then
  # The regression alarm against the accepted baseline (docs/regression.md): 1 names each regression.
  regress=0
  "$PY" -m analysis regress --tier nightly --history "$results/history" || regress=$?
  if [ "$regress" -eq 1 ]; then
    status=1
  elif [ "$regress" -ne 0 ]; then
    echo "run_all: no regression check (see above); accept a baseline with: $PY -m analysis regress --accept" >&2
  fi
fi
exit "$status"  # 1 when some run failed (the table names it) or the nightly regressed
