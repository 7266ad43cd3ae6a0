#!/usr/bin/env bash
# The checks for a CUDA machine, in one short run (about 8 minutes on one H100 with 16 cores):
#   1. every script with --cuda for a few thousand steps (the smoke suite): the CUDA code paths run;
#   2. steps per second of the scripts whose learner is the cost, on CUDA and, in the same run, on
#      this machine's CPU (1 torch thread, the scripts' default), so that the ratio compares like
#      with like; Atari on CPU runs a fifth of the budget (a Nature-CNN update is slow there).
# Usage: benchmarks/gpu_check.sh OUT_DIR [STAGE...]   stages: smoke cuda cpu (default: all three)
# Results: OUT_DIR/smoke.jsonl, OUT_DIR/throughput_cuda.jsonl, OUT_DIR/throughput_cpu.jsonl (a few
# files: logs stay in a temporary folder). Python: $PYTHON, as for benchmark.sh.
set -uo pipefail
out="${1:?usage: benchmarks/gpu_check.sh OUT_DIR [smoke] [cuda] [cpu]}"
shift
stages="${*:-smoke cuda cpu}"
bench="$(cd "$(dirname "$0")/.." && pwd)/benchmark.sh"
work="$(mktemp -d)"
mkdir -p "$out"
status=0

nvidia-smi -L || true
"${PYTHON:-python}" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')"

heavy=sac_continuous,ppo_continuous,a2c_continuous,dqn,ppo_atari,dqn_atari,sac_atari
for stage in $stages; do
  echo "== $stage"
  case $stage in
    smoke) "$bench" smoke --cuda --jobs 8 --results-dir "$work/smoke" --runs-dir "$work/runs" || status=1 ;;
    cuda) "$bench" throughput --cuda --reps 1 --jobs 1 --algos "$heavy" --results-dir "$work/cuda" \
      --runs-dir "$work/runs" ;;
    cpu)
      "$bench" throughput --reps 1 --jobs 1 --algos sac_continuous,ppo_continuous,a2c_continuous,dqn \
        --results-dir "$work/cpu" --runs-dir "$work/runs"
      "$bench" throughput --reps 1 --jobs 1 --algos ppo_atari,dqn_atari --scale 0.2 --results-dir "$work/cpu" \
        --runs-dir "$work/runs"
      ;;
    *) echo "unknown stage $stage (smoke, cuda, cpu)" >&2; exit 2 ;;
  esac
  for f in "$work"/smoke/smoke.jsonl "$work"/cuda/throughput.jsonl "$work"/cpu/throughput.jsonl; do
    [ -f "$f" ] || continue
    name=$(basename "$(dirname "$f")")
    case $name in smoke) cp "$f" "$out/smoke.jsonl" ;; *) cp "$f" "$out/throughput_$name.jsonl" ;; esac
  done
done
rm -rf "$work"
exit $status
