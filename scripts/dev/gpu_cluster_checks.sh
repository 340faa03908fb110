#!/usr/bin/env bash
# usage (repository root, GPU machine): scripts/dev/gpu_cluster_checks.sh
# Results go to $OUT (default ./out). With the device bundle: STRATA_BIN_DIR=/tmp/s/bin.
# Every GPU test binary (CUDA backend, NCCL links and stages: the two-GPU ones skip on one
# GPU), per-hop latency, and fixture exactness of multi-worker clusters against one process.
# With two GPUs: NCCL and UCX links across them; with one, UCX between workers sharing it
# (NCCL refuses two ranks on one device).
set -u
export NCCL_NVLS_ENABLE=0
root=$PWD
# The tests find the fixture at the path they were built with (/work/main/tests/fixtures).
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
S=${STRATA_BIN_DIR:-/tmp/s/bin}   # strata, strata-worker, strata-coordinator, the test binaries
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
{ nvidia-smi -L; nvidia-smi topo -m; nproc; free -g; } > $OUT/a_env.txt 2>&1
{
  # The GPU machine has no promtool (a Debian package); CI runs the test that needs it.
  no_promtool=-WorkerMetricsTest.AStagesPassesShowInItsWorkersMetrics
  for t in strata_cuda_test strata_nccl_test strata_worker_test; do
    timeout 300 $S/$t --gtest_brief=1 --gtest_filter=$no_promtool; echo "$t rc=$?"
  done
} > $OUT/a_tests.txt 2>&1
{
  gpus=$(nvidia-smi -L | wc -l)
  # ucx-staged needs two GPUs; with one, the host-to-host UCX hop (what workers sharing a
  # GPU pay besides their copies).
  if [ "$gpus" -ge 2 ]; then links="nccl ucx-staged"; ucx=ucx-staged; else links="ucx"; ucx=ucx; fi
  for t in $links; do
    echo "== $t"; timeout 120 $S/strata bench-transport --transport $t --iters 300 --warmup 30
  done
  echo "== $ucx UCX_TLS=tcp"; UCX_TLS=tcp timeout 120 $S/strata bench-transport --transport $ucx --iters 300 --warmup 30
  [ "$gpus" -ge 2 ] && { echo "== nccl json"; timeout 120 $S/strata bench-transport --transport nccl --iters 300 --warmup 30 --json; }
  # The host hop's floor in the same run: UCX's own busy-polling tag ping-pong of a decode
  # activation's size (16 KiB), two processes on this host.
  if command -v ucx_perftest > /dev/null; then
    for tls in default tcp; do
      tls_env=(); [ $tls = tcp ] && tls_env=(UCX_TLS=tcp)
      echo "== ucx_perftest tag_lat 16384 UCX_TLS=$tls"
      env "${tls_env[@]}" timeout 60 ucx_perftest -p 13377 > /dev/null 2>&1 & srv=$!
      sleep 1
      env "${tls_env[@]}" timeout 60 ucx_perftest 127.0.0.1 -p 13377 -t tag_lat -s 16384 -n 10000 -w 1000 | tail -1
      wait $srv
    done
  else
    echo "== no ucx_perftest (Debian package ucx-utils): the UCX hop has no floor in this run"
  fi
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
  if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
    configs=("2 nccl cuda:0,cuda:1" "3 nccl cuda:0,cuda:1,cuda:0" "2 ucx cuda:0,cuda:1")
  else
    configs=("2 ucx cuda:0,cuda:0" "3 ucx cuda:0,cuda:0,cuda:0")
  fi
  for cfg in "${configs[@]}"; do
    set -- $cfg
    port=$((port+1))
    rd=/tmp/run_fx_$1_$2
    $S/strata cluster up --model $fx --workers $1 --backend $3 --transport $2 --http $port --run-dir $rd > /tmp/up_$port.txt 2>&1 &
    upid=$!
    for i in $(seq 120); do curl -sf localhost:$port/ready >/dev/null && break; kill -0 $upid 2>/dev/null || break; sleep 1; done
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
# The whole-layer figures of a 70B-shape layer, both dtypes, ceilings from the same run; the
# pipelined run with and without checking streamed layers (the pack written once, kept).
for d in bf16 fp8; do
  for v in --verify-streamed --no-verify-streamed; do
    echo "== $d $v"
    timeout 300 $S/strata bench --synthetic llama-3.1-70b --layers 4 --iters 10 --dtype $d \
      --backend cuda:0 --dir /var/tmp/bench-$d --keep $v
  done
  rm -rf /var/tmp/bench-$d
done > $OUT/a_bench.txt 2>&1
echo done
