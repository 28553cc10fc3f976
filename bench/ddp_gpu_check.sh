#!/usr/bin/env bash
# The single-GPU NCCL check of issue 15 (prepared; no GPU was at hand when it was written):
# the distributed code path at world size 1 (NCCL for the data, gloo for rank 0's messages) must run
# within 3 % of one plain process. CUDA graphs are off under data parallelism, so the fair plain
# process has them off too; the graph-on rate is printed beside it for what data parallelism gives up.
#
#   bash bench/ddp_gpu_check.sh            # about 3 minutes on one GPU; PYTHON=... to pick the interpreter
#
# 1. bench/ddp_bench.py --device cuda --world 1 on three models (the same trainer, one after another);
# 2. end to end: `torchrun --nproc-per-node 1 -m gantui --headless` against `gantui --headless`
#    (cuda_graph = false), the median steps_per_sec of metrics.jsonl after the first fifth.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu SCALE=0.02 tries the script itself on a machine without a GPU
SCALE=${SCALE:-1}
OUT=${OUT:-$(mktemp -d /tmp/gantui-gpu-check.XXXX)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" GANTUI_DIST_TIMEOUT_S=120

for case in ring8 mnist-mlp dcgan64; do
  echo "== bench/ddp_bench.py --case $case"
  "$PY" bench/ddp_bench.py --device "$DEVICE" --world 1 --case "$case" --seconds "$("$PY" -c "print(max(1, 5 * $SCALE))")" \
    --repeats 3 2>&1 | grep -v Warning
done

rate() {  # median steps_per_sec of a run folder, after its first fifth
  "$PY" - "$1" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl")]
rates = [r["steps_per_sec"] for r in rows[len(rows) // 5:] if "steps_per_sec" in r]
print(f"{statistics.median(rates):.1f}")
EOF
}

for preset in ring8 mnist-dcgan; do
  steps=20000; [ "$preset" = mnist-dcgan ] && steps=3000
  steps=$("$PY" -c "print(max(100, int($steps * $SCALE)))")
  args=(--headless --preset "$preset" --steps "$steps" --device "$DEVICE" --set train.cuda_graph=false
        --set log.probe_every=0 --set log.png_every=0)
  [ "$preset" = mnist-dcgan ] && args+=(--set data.name=fake --set data.image_size=32 --set data.channels=1)
  "$PY" -m gantui "${args[@]}" --run-dir "$OUT/$preset-plain" > "$OUT/$preset-plain.log" 2>&1
  "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m gantui "${args[@]}" \
    --run-dir "$OUT/$preset-ranked" > "$OUT/$preset-ranked.log" 2>&1
  plain=$(rate "$OUT/$preset-plain"); ranked=$(rate "$OUT/$preset-ranked")
  "$PY" -c "
p, r = $plain, $ranked
print(f'== end to end, $preset: plain {p} it/s, world 1 (NCCL) {r} it/s: {r / p:.3f}', 'PASS' if r >= 0.97 * p else 'FAIL (> 3 % slower)')"
done
echo "run folders and logs: $OUT"
