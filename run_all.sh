#!/usr/bin/env bash
# The main job: set up the environment if needed, run every experiment at one budget tier,
# then aggregate the results into results/TIER/report.md (tables + figures) and print the tables.
#
#   ./run_all.sh [--tier smoke|nightly|paper] [--only NAME[,NAME]] [--seeds N] [--workers N]
#
# Finished runs are kept: after an interruption, the same command resumes. `python -m runner --help`
# explains every option.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup.sh

tier=smoke
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --tier) tier="${args[$((i + 1))]:-smoke}" ;;
    --tier=*) tier="${args[$i]#--tier=}" ;;
    -h|--help) exec "$PY" -m runner --help ;;
  esac
done

status=0
"$PY" -m runner "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
  exit "$status"  # bad input (2) or interrupted (130): nothing to analyse
fi
"$PY" -m analysis "results/$tier"
exit "$status"  # 1 when some run failed: the table names it
