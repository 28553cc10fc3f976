#!/usr/bin/env bash
# The prepared GPU measurement of issue 14, in one command (about 8 minutes on an H100/H200):
#   1. bench/gpu_check.py        eager vs graph over the scenarios, pause per change, failures, it/s
#   2. pytest tests/test_graphs.py  (its CUDA tests run only here)
#   3. bench/bench.py --device cuda --repeats 3   plain loop / headless / dashboard, cadences on
#   4. bench/bench.py --compile reduce-overhead   torch.compile against the graph path (MLP, k = 1)
# Every stage has its own time limit, so a hang costs one stage, not the run. Output: the log file
# (default: $OUT/gpu_all.log when $OUT is set, else bench/gpu_all.log) and stdout.
#
#   bash bench/gpu_all.sh                       # on the GPU machine, from the repository root
#   bash bench/gpu_all.sh --device cpu --quick  # a dry run on the CPU: proves the script works
#   PYTHON=/path/to/venv/bin/python bash bench/gpu_all.sh
set -u
cd "$(dirname "$0")/.."
DEVICE=cuda
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "gpu_all.sh: unknown option $1 (expected --device NAME, --quick)" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-python}"
LOG="${GPU_LOG:-${OUT:+$OUT/gpu_all.log}}"
LOG="${LOG:-bench/gpu_all.log}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$QUICK" = 1 ]; then
  CHECK_ARGS=(--device "$DEVICE" --quick)
  BENCH_ARGS=(--device "$DEVICE" --cases mnist-mlp --k 1 --seconds 2 --repeats 1)
else
  CHECK_ARGS=(--device "$DEVICE")
  BENCH_ARGS=(--device "$DEVICE" --repeats 3 --seconds 2)
fi

stage() {  # stage NAME SECONDS COMMAND...: run with a limit, say how it ended
  local name="$1" limit="$2"; shift 2
  echo "=== $name (limit ${limit} s): $*"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - start)) s$([ $rc = 124 ] && echo ' (time limit)')"
}

{
  echo "=== gpu_all.sh $(date -u +%FT%TZ) device=$DEVICE quick=$QUICK"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available())"
  stage gpu_check 210 "$PY" bench/gpu_check.py "${CHECK_ARGS[@]}"
  stage test_graphs 90 "$PY" -m pytest -q -p no:cacheprovider tests/test_graphs.py
  stage bench 240 "$PY" bench/bench.py "${BENCH_ARGS[@]}"
  if [ "$DEVICE" != cpu ]; then
    stage bench_compile 90 "$PY" bench/bench.py --device "$DEVICE" --cases mnist-mlp --k 1 --seconds 3 \
      --compile reduce-overhead
  else
    echo "=== bench_compile: skipped on the CPU (train.compile needs CUDA)"
  fi
  echo "=== done after $SECONDS s"
} 2>&1 | tee "$LOG"
