#!/usr/bin/env bash
# usage (repository root, GPU machine): [LAYERS=8] [DTYPE=fp8] [MAX_TOKENS=32] [GPU_BUDGET=3G]
#   [PINNED_BUDGET=2G] scripts/dev/streamed_batching_bench.sh
# Issue 17 item 3: decode tokens/s with 1, 2, 4, 8, 16 and 32 sequences at once over layers that
# stream (GPU budget for the runtime, the LM head and the staging slots only: every layer
# is read from the pack or pinned memory on every pass), on one worker and on two workers
# sharing GPU 0 (UCX), each beside its pipeline passes and the coordinator's step policy.
# Scaling = tokens/s at N / (N x tokens/s at 1): 1.0 is linear, the target is >= 0.8 until
# the pass is compute-bound. Results in $OUT (default ./out), one JSON line per run, then a
# table. DRY=1: the tiny fixture on the CPU backend (checks this script here).
set -u
root=$PWD
S=${STRATA_BIN_DIR:-/tmp/s/bin}
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
fixture=$root/tests/fixtures/tiny-llama31
if [ "${DRY:-0}" = 1 ]; then
  pack=/tmp/sbb-fixture; backend=cpu; max_tokens=16
  [ -f $pack/manifest.json ] || $S/strata pack --model $fixture --out $pack > /dev/null
  gpu_mem=(33.3M 11.5M,27.2M)  # per worker count: runtime, LM head (last stage), one slot
  pinned_mem=17M
else
  pack=/tmp/sbb-70b-${DTYPE:-fp8}; backend=cuda:0; max_tokens=${MAX_TOKENS:-32}
  [ -f $pack/manifest.json ] || $S/strata pack --synthetic llama-3.1-70b --layers ${LAYERS:-8} \
    --dtype ${DTYPE:-fp8} --tokenizer $fixture --out $pack > /dev/null
  gpu_mem=(${GPU_BUDGET:-3G} ${GPU_BUDGET:-3G})  # runtime, LM head, slots: no resident layer
  pinned_mem=${PINNED_BUDGET:-2G}
fi
port=8500
for workers in 1 2; do
  port=$((port+1))
  rd=/tmp/sbb_run_$workers; rm -rf $rd
  $S/strata cluster up --model $pack --workers $workers --backend $backend --transport ucx \
    --http $port --run-dir $rd --kv-slots 32 --max-batch-tokens 512 --max-seq-len 256 \
    --gpu-mem ${gpu_mem[$((workers - 1))]} --pinned-mem $pinned_mem \
    > /tmp/sbb_up_$workers.txt 2>&1 &
  upid=$!
  for i in $(seq 300); do
    curl -sf localhost:$port/ready >/dev/null && break
    kill -0 $upid 2>/dev/null || break
    if grep -q "planning failed" $rd/coordinator.log 2>/dev/null; then
      grep -h "planning failed" $rd/coordinator.log | cut -c1-400; break
    fi
    sleep 1
  done
  grep -h "stage . =\|serving on" $rd/coordinator.log | cut -c1-260
  python3 scripts/dev/pipeline_bench.py $port decode 1 4 > /dev/null  # warm-up
  for c in 1 2 4 8 16 32; do
    timeout 300 python3 scripts/dev/pipeline_bench.py $port decode $c $max_tokens |
      sed "s/^/{\"workers\": $workers, \"run\": /; s/\$/}/"
  done
  $S/strata cluster down --run-dir $rd > /dev/null
done > $OUT/streamed_batching.jsonl 2> $OUT/streamed_batching.err
python3 - "$OUT/streamed_batching.jsonl" <<'PY' | tee $OUT/streamed_batching.md
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| workers | sequences | tokens/s | scaling vs 1 | passes | tokens per pass | step policy |")
print("| --- | --- | --- | --- | --- | --- | --- |")
base = {}
for r in rows:
    d = r["run"]["decode"]; w = r["workers"]
    base.setdefault(w, d["tokens_per_s"])
    print("| %d | %d | %.1f | %.2f | %d | %.1f | %s |" % (
        w, d["concurrency"], d["tokens_per_s"], d["tokens_per_s"] / (d["concurrency"] * base[w]),
        d["passes"], d["tokens"] / max(d["passes"], 1), d["step_policy"]))
PY
grep -h "serving on\|stage . =" /tmp/sbb_run_*/coordinator.log | cut -c1-200 >> $OUT/streamed_batching.err
