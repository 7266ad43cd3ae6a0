#!/usr/bin/env bash
# Benchmarks (see docs/BENCHMARKS.md):
#   ./benchmark.sh SUITE [options]   run a suite: classic, mujoco, atari, throughput, smoke (--help for options)
#   ./benchmark.sh report            results (benchmarks/results/*.jsonl) -> docs/BENCHMARKS.md + PNG curves
# Python: $PYTHON if set, else the repository's .venv if there is one, else `python`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py=python; fi
fi
if [ "${1:-}" = report ]; then
  shift
  exec "$py" "$here/benchmarks/report.py" "$@"
fi
exec "$py" "$here/benchmarks/run.py" "$@"
