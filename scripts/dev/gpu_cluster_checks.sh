#!/usr/bin/env bash
# usage (repository root, GPU machine): scripts/dev/gpu_cluster_checks.sh
# Results go to $OUT (default ./out). With the device bundle: STRATA_BIN_DIR=/tmp/s/bin.
# On a machine with two GPUs: the GPU tests of the NCCL links and stages, per-hop
# latency NCCL vs UCX staged, and fixture exactness of 2-worker clusters over both transports.
set -u
export NCCL_NVLS_ENABLE=0
root=$PWD
# The tests find the fixture at the path they were built with (/work/main/tests/fixtures).
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
S=${STRATA_BIN_DIR:-/tmp/s/bin}   # strata, strata-worker, strata-coordinator, the test binaries
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
{ nvidia-smi -L; nvidia-smi topo -m; nproc; free -g; } > $OUT/a_env.txt 2>&1
{
  timeout 120 $S/strata_nccl_test; echo "nccl_test rc=$?"
  timeout 180 $S/strata_worker_test --gtest_filter='Nccl/*:Ucx/*'; echo "worker_test rc=$?"
} > $OUT/a_tests.txt 2>&1
{
  for t in nccl ucx-staged; do
    echo "== $t"; timeout 120 $S/strata bench-transport --transport $t --iters 300 --warmup 30
  done
  echo "== ucx-staged UCX_TLS=tcp"; UCX_TLS=tcp timeout 120 $S/strata bench-transport --transport ucx-staged --iters 300 --warmup 30
  echo "== nccl json"; timeout 120 $S/strata bench-transport --transport nccl --iters 300 --warmup 30 --json
} > $OUT/a_hops.txt 2>&1
# Fixture exactness: 2 workers on 2 GPUs, both transports, vs single-process on GPU 0.
fx=/tmp/fxpack
$S/strata pack --model $root/tests/fixtures/tiny-llama31 --out $fx --dtype bf16 > /dev/null
{
  for p in "The capital of France is" "Once upon a time" "def fib(n):"; do
    f=/tmp/ref_$(echo "$p" | md5sum | cut -c1-8).json
    $S/strata generate --model $fx --backend cuda:0 --prompt "$p" --max-tokens 24 --json > $f
  done
  port=8300
  for cfg in "2 nccl cuda:0,cuda:1" "3 nccl cuda:0,cuda:1,cuda:0" "2 ucx cuda:0,cuda:1"; do
    set -- $cfg
    port=$((port+1))
    rd=/tmp/run_fx_$1_$2
    $S/strata cluster up --model $fx --workers $1 --backend $3 --transport $2 --http $port --run-dir $rd > /tmp/up_$port.txt 2>&1 &
    upid=$!
    for i in $(seq 120); do curl -sf localhost:$port/health >/dev/null && break; kill -0 $upid 2>/dev/null || break; sleep 1; done
    echo "== fixture: $cfg"; cat /tmp/up_$port.txt
    for p in "The capital of France is" "Once upon a time" "def fib(n):"; do
      f=/tmp/ref_$(echo "$p" | md5sum | cut -c1-8).json
      python3 scripts/dev/pipeline_bench.py $port check $f "$p" 24 | cut -c1-120; echo "check rc=${PIPESTATUS[0]}"
    done
    python3 scripts/dev/pipeline_bench.py $port decode 4 24
    $S/strata cluster down --run-dir $rd
    grep -h -i "error\|warn\|plan predicts" $rd/*.log | grep -v "control stream was cancelled\|left before" | head -8 | cut -c1-300
  done
} > $OUT/a_fixture.txt 2>&1
echo done
