#!/usr/bin/env bash
# usage (repository root, GPU machine): scripts/dev/int4_gpu_checks.sh
# Results go to $OUT (default ./out). With the device bundle: STRATA_BIN_DIR=/tmp/s/bin.
# The int4 CUDA kernels (issue 16): their op-comparison tests against the CPU backend and the
# int4 forward test, then their benchmarks beside the ceilings they are judged against, all
# from this one run: the HBM read ceiling (BM_ReadCeiling) for the decode GEMVs and the bf16
# GEMM (BM_PrefillGemm/0 and the bf16 rows of BM_PrefillGemmShapes) for the prefill.
set -u
root=$PWD
# The tests find fixtures at the path they were built with; the int4 ones need none, but the
# binary is the same: make the usual build paths resolve here.
for p in /work/main /work/int4-cuda; do [ -e $p ] || { mkdir -p /work && ln -s "$root" $p; }; done
S=${STRATA_BIN_DIR:-/tmp/s/bin}
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv; } > $OUT/int4_env.txt 2>&1
timeout 120 $S/strata_cuda_test --gtest_filter='CudaInt4*:CudaForward.WellConditioned*' \
  > $OUT/int4_tests.txt 2>&1
echo "strata_cuda_test rc=$?" >> $OUT/int4_tests.txt
timeout 160 $S/strata_cuda_bench --benchmark_counters_tabular=true --benchmark_min_time=0.2 \
  --benchmark_filter='BM_ReadCeiling|BM_DecodeGemv/[02]/|BM_DecodeLayer/[02]/|BM_PrefillGemm/0|BM_PrefillGemmShapes' \
  > $OUT/int4_bench.txt 2>&1
echo "strata_cuda_bench rc=$?" >> $OUT/int4_bench.txt
tail -n 3 $OUT/int4_tests.txt $OUT/int4_bench.txt
