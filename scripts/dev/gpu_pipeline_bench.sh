#!/usr/bin/env bash
# usage (repository root, GPU machine): [ONE_GPU=1] [LAYERS=N] scripts/dev/gpu_pipeline_bench.sh
# Results go to $OUT (default ./out). With the device bundle: STRATA_BIN_DIR=/tmp/s/bin.
# A 70B-shape synthetic pack (16 layers, fp8) served by
# a 2-worker cluster, one GPU each, over NCCL and over UCX (staged): decode tokens/s with
# 1..16 sequences in flight and prefill throughput, beside the plan's prediction (with the
# hop measured by bench-transport in this run) and a single-process run on one GPU.
set -u
export NCCL_NVLS_ENABLE=0
# ONE_GPU=1: both workers on GPU 0, ucx only (checks this script on a single-GPU machine)
one=${ONE_GPU:-0}
if [ "$one" = 1 ]; then backends=cuda:0; transports=ucx; else backends=cuda:0,cuda:1; transports="nccl ucx"; fi
root=$PWD
# The tests find the fixture at the path they were built with (/work/main/tests/fixtures).
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
S=${STRATA_BIN_DIR:-/tmp/s/bin}   # strata, strata-worker, strata-coordinator, the test binaries
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
pack=/tmp/p70
{
  /usr/bin/time -v $S/strata pack --synthetic llama-3.1-70b --layers ${LAYERS:-16} --dtype fp8 --tokenizer $root/tests/fixtures/tiny-llama31 --out $pack 2>&1 | grep -E "Elapsed|Maximum resident|error"
  du -sh $pack
  $S/strata generate --model $pack --backend cuda:0 --prompt "alpha bravo charlie" --max-tokens 64 --stats 2>&1 >/dev/null | grep -E "^backend|^prefill|^decode|^last pass"
  if [ "$one" = 1 ]; then
    $S/strata bench-transport --transport ucx --dtype fp32 --iters 100 --warmup 10 --json > /tmp/link_ucx.json
  else
    $S/strata bench-transport --transport nccl --dtype fp32 --iters 200 --warmup 20 --json > /tmp/link_nccl.json
    $S/strata bench-transport --transport ucx-staged --dtype fp32 --iters 100 --warmup 10 --json > /tmp/link_ucx.json
    echo "link nccl (fp32): $(python3 scripts/dev/pipeline_bench.py - link /tmp/link_nccl.json)"
  fi
  echo "link ucx (fp32): $(python3 scripts/dev/pipeline_bench.py - link /tmp/link_ucx.json)"
} > $OUT/b_single.txt 2>&1
port=8400
for t in $transports; do
  port=$((port+1))
  rd=/tmp/run70_$t
  link=$(python3 scripts/dev/pipeline_bench.py - link /tmp/link_$t.json)
  {
    $S/strata cluster up --model $pack --workers 2 --backend $backends --transport $t --http $port --run-dir $rd --kv-slots 16 --max-batch-tokens 2048 $link > /tmp/up70_$t.txt 2>&1 &
    upid=$!
    for i in $(seq 240); do curl -sf localhost:$port/ready >/dev/null && break; kill -0 $upid 2>/dev/null || break; sleep 1; done
    echo "== $t ($link)"; cat /tmp/up70_$t.txt
    python3 scripts/dev/pipeline_bench.py $port plan
    python3 scripts/dev/pipeline_bench.py $port decode 1 16 >/dev/null  # warm-up
    for c in 1 2 4 8 16; do timeout 120 python3 scripts/dev/pipeline_bench.py $port decode $c 64; done
    for c in 1 2 4; do timeout 120 python3 scripts/dev/pipeline_bench.py $port prefill $c 1500; done
    sleep 1.5; python3 scripts/dev/pipeline_bench.py $port plan  # the hops' timing, after a heartbeat
    $S/strata cluster down --run-dir $rd
    grep -h -i "plan predicts\|stage 0 =\|stage 1 =\|error\|warn" $rd/*.log | grep -v "control stream was cancelled\|left before" | head -12 | cut -c1-300
  } > $OUT/b_cluster_$t.txt 2>&1
done
echo done
