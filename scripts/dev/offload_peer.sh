#!/usr/bin/env bash
# usage (repository root, GPU machine): [LAYERS=10] [PHASES="..."] scripts/dev/offload_peer.sh
# Strata against Hugging Face Accelerate's offload (device_map="auto", max_memory, an offload
# folder) at equal GPU / host budgets, on a Llama 3.1 70B-shape checkpoint of LAYERS decoder
# layers with random bf16 weights: prefill of a 512-token prompt, decode per token, peak GPU
# memory, cold (page cache evicted) and warm, beside the disk's ceiling from
# `strata bench-disk` and each system's disk bound (bytes it must read per token / that
# ceiling). The steps are scripts/dev/offload_peer.py's subcommands; every one runs under
# `timeout`. Needs torch, transformers, accelerate and safetensors for the checkpoint and the
# Accelerate half (no network: nothing is downloaded); Strata's binaries at $STRATA_BIN_DIR.
#
# Knobs (environment):
#   STRATA_BIN_DIR  strata binaries (default /tmp/s/bin)
#   OUT             results copied here at the end (default ./out)
#   WORK            checkpoint, packs, offload folder and results kept across runs
#                   (default /tmp/offload_peer): the checkpoint (~21 GB for 10 layers) and the
#                   packs (~21 GB bf16, ~13 GB fp8, ~8 GB int4) are made once and reused
#   LAYERS          decoder layers (default 10)
#   DTYPES          Strata's pack dtypes, packed and run in turn (default "bf16 fp8 int4")
#   GPU_BUDGET      Accelerate max_memory[0] and strata --gpu-mem (default 6GiB)
#   CPU_BUDGET      Accelerate max_memory["cpu"] and strata --pinned-mem (default 10GiB)
#   PROMPT_TOKENS   prompt length, BOS included (default 512)
#   DECODE_TOKENS   Accelerate's timed decode steps after the prefill (default 3)
#   MAX_TOKENS      strata --max-tokens (default 8: 7 decode steps)
#   DISK_BYTES      bench-disk --bytes (default 768M: its 25 cold reads, each of its own
#                   window, fit in the 21 GB pack without a re-read)
#   PHASES          which steps, in order (default "checkpoint pack prompt disk hf strata table");
#                   a later run with other phases reuses the results in WORK, e.g. three device
#                   calls: PHASES="checkpoint pack", PHASES="prompt disk hf", PHASES="strata table"
#   DRY=1           a CPU check of this script: the tiny fixture (tests/fixtures/tiny-llama31)
#                   and small packs of it, --backend cpu, tiny budgets; the Accelerate half
#                   runs only where torch sees a GPU
# Each phase's duration is printed and kept in phases.txt.
set -u
root=$PWD
S=${STRATA_BIN_DIR:-/tmp/s/bin}
OUT=${OUT:-$root/out}
WORK=${WORK:-/tmp/offload_peer}
LAYERS=${LAYERS:-10}
PROMPT_TOKENS=${PROMPT_TOKENS:-512}
DECODE_TOKENS=${DECODE_TOKENS:-3}
MAX_TOKENS=${MAX_TOKENS:-8}
PHASES=${PHASES:-checkpoint pack prompt disk hf strata table}
fixture=$root/tests/fixtures/tiny-llama31
py=(python3 "$root/scripts/dev/offload_peer.py")
if [ "${DRY:-0}" = 1 ]; then
  hf=$fixture
  tag=dry
  backend=cpu
  GPU_BUDGET=${GPU_BUDGET:-22700K}  # the fixture: ends and workspace ~22 MiB, layers ~100 KiB
  CPU_BUDGET=${CPU_BUDGET:-16700K}
  disk_bytes=()  # the whole (small) file
else
  tag=L$LAYERS
  hf=$WORK/hf-70b-$tag
  backend=cuda:0
  GPU_BUDGET=${GPU_BUDGET:-6GiB}
  CPU_BUDGET=${CPU_BUDGET:-10GiB}
  disk_bytes=(--bytes "${DISK_BYTES:-768M}")
fi
DTYPES=${DTYPES:-bf16 fp8 int4}  # Strata's packs and runs
pack_dir() { echo "$WORK/p-$1-$tag"; }
res=$WORK/results-$tag
mkdir -p "$res" "$OUT"
[ -x "$S/strata" ] || { echo "no strata binary at $S/strata (set STRATA_BIN_DIR)" >&2; exit 1; }
echo "offload_peer: $tag, budgets gpu $GPU_BUDGET / cpu $CPU_BUDGET, phases: $PHASES; work $WORK"

# phase NAME CMD...: runs CMD, prints and records how long it took and its exit status.
phase() {
  local name=$1 start rc tenths
  shift
  start=$(date +%s%N)
  echo "== $name"
  "$@"
  rc=$?
  tenths=$((($(date +%s%N) - start) / 100000000))
  printf '%-10s %5d.%d s  exit %s\n' "$name" $((tenths / 10)) $((tenths % 10)) "$rc" |
    tee -a "$res/phases.txt"
}

checkpoint() {
  if [ "${DRY:-0}" = 1 ]; then echo "DRY: using $hf"; return 0; fi
  if [ -f "$hf/model.safetensors.index.json" ]; then echo "present: $hf"; return 0; fi
  timeout -k 10 1800 "${py[@]}" checkpoint --out "$hf" --layers "$LAYERS" --fixture "$fixture"
}

pack() {
  local dtype dir extra
  for dtype in $DTYPES; do
    dir=$(pack_dir "$dtype")
    if [ -f "$dir/manifest.json" ]; then echo "present: $dir"; continue; fi
    extra=()  # the fixture's 64-wide rows need int4 groups below the default 128
    [ "$dtype" = int4 ] && [ "${DRY:-0}" = 1 ] && extra=(--group-size 32)
    timeout -k 10 1800 "$S/strata" pack --model "$hf" --dtype "$dtype" --out "$dir" "${extra[@]}" || return 1
    du -sh "$dir"
  done
}

prompt() {
  timeout -k 10 300 "${py[@]}" prompt --strata "$S/strata" --model "$hf" \
    --tokens "$PROMPT_TOKENS" --res "$res"
}

disk() {
  timeout -k 10 900 "$S/strata" bench-disk --file "$(pack_dir bf16)/weights.bin" "${disk_bytes[@]}" --json \
    > "$res/bench_disk.json" 2> "$res/bench_disk.log"
  local rc=$?
  cat "$res/bench_disk.log"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("disk best %.2f GB/s: %s" % (d["best"]["gb_per_s"], d["best"]["how"]))' "$res/bench_disk.json"
  return $rc
}

hf_offload() {
  if ! timeout -k 10 120 python3 -c 'import torch, transformers, accelerate, safetensors; assert torch.cuda.is_available()' 2>/dev/null; then
    echo "skipped: torch, transformers, accelerate or a GPU is missing here"
    return 0
  fi
  timeout -k 10 1500 "${py[@]}" hf --model "$hf" --ids "$res/prompt_ids.json" \
    --gpu-budget "$GPU_BUDGET" --cpu-budget "$CPU_BUDGET" --offload-dir "$WORK/offload-$tag" \
    --decode-tokens "$DECODE_TOKENS" --res "$res" 2>&1 | tee "$res/hf.log"
  return "${PIPESTATUS[0]}"
}

strata_runs() {
  local dtype dir cache
  for dtype in $DTYPES; do
    dir=$(pack_dir "$dtype")
    for cache in cold warm; do
      timeout -k 10 660 "${py[@]}" strata --strata "$S/strata" --pack "$dir" --dtype "$dtype" \
        --cache "$cache" --backend "$backend" --gpu-budget "$GPU_BUDGET" \
        --cpu-budget "$CPU_BUDGET" --prompt-file "$res/prompt.txt" --max-tokens "$MAX_TOKENS" \
        --timeout 600 --res "$res"
    done
  done
}

table() {
  timeout -k 10 60 "${py[@]}" table --res "$res" --md "$res/offload_peer.md"
}

for p in $PHASES; do
  case $p in
    checkpoint) phase checkpoint checkpoint ;;
    pack) phase pack pack ;;
    prompt) phase prompt prompt ;;
    disk) phase disk disk ;;
    hf) phase hf hf_offload ;;
    strata) phase strata strata_runs ;;
    table) phase table table ;;
    *) echo "unknown phase '$p'" >&2; exit 2 ;;
  esac
done
cp -r "$res/." "$OUT/"
echo "results in $OUT (and $res)"
