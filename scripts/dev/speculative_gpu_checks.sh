#!/usr/bin/env bash
# usage (repository root, GPU machine): scripts/dev/speculative_gpu_checks.sh
# Results go to $OUT (default ./out). With the device bundle: STRATA_BIN_DIR=/tmp/s/bin.
# Speculative decoding on the GPU (issue 18): the CUDA tree-attention tests against the CPU
# backend (they must pass before common/backend/cuda/cuda_backend.cc offers tree_attention),
# a memcheck of them, and the verify-pass curve of a streamed 70B-shape configuration: a pass
# over 1..256 tokens (a tree's verify pass; flat while the pass is transfer-bound), from
# `strata bench`, whose report carries the ceilings of the same run. DRY=1 prints the
# commands instead (the CPU check of this script). Env: LAYERS (default 8), GPU_LAYERS (0),
# PINNED_LAYERS (0: every layer from the SSD), TOKENS (the curve's sizes).
set -u
root=$PWD
for p in /work/main; do [ -e $p ] || { mkdir -p /work && ln -s "$root" $p; }; done
S=${STRATA_BIN_DIR:-/tmp/s/bin}
OUT=${OUT:-$root/out}; mkdir -p "$OUT"
LAYERS=${LAYERS:-8}
GPU_LAYERS=${GPU_LAYERS:-0}
PINNED_LAYERS=${PINNED_LAYERS:-0}
TOKENS=${TOKENS:-1,2,4,8,16,32,64,128,256}
run() {
  if [ "${DRY:-0}" = 1 ]; then echo "$*"; else "$@"; fi
}
run timeout 180 $S/strata_cuda_test --gtest_filter='CudaAttention.*:CudaForward.*' \
  > $OUT/spec_tests.txt 2>&1
echo "strata_cuda_test rc=$?" >> $OUT/spec_tests.txt
if command -v compute-sanitizer > /dev/null; then
  run timeout 300 compute-sanitizer --tool memcheck $S/strata_cuda_test \
    --gtest_filter='CudaAttention.Tree*' > $OUT/spec_memcheck.txt 2>&1
  echo "memcheck rc=$?" >> $OUT/spec_memcheck.txt
fi
run timeout 400 $S/strata bench --synthetic llama-3.1-70b --layers "$LAYERS" --backend cuda \
  --gpu-layers "$GPU_LAYERS" --pinned-layers "$PINNED_LAYERS" --iters 3 --passes 3 \
  --verify-tokens "$TOKENS" --json-file $OUT/spec_curve.json > $OUT/spec_curve.txt 2>&1
echo "strata bench rc=$?" >> $OUT/spec_curve.txt
tail -n 14 $OUT/spec_tests.txt $OUT/spec_curve.txt
