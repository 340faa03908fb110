#!/usr/bin/env bash
# Mean latency of 20 requests on fresh connections vs 20 on one reused (keep-alive)
# connection, with curl, against a local 2-worker CPU cluster on the bundled tiny model:
# GET /health and a 1-token greedy completion. Usage: scripts/dev/keepalive_latency.sh [PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
strata="${STRATA_BUILD_DIR:-$root/build}/cli/strata"
port=${1:-18231}
run=$(mktemp -d)
export UCX_TLS=${UCX_TLS:-tcp}
"$strata" cluster up --workers 2 --model "$root/tests/fixtures/tiny-llama31" --http "$port" \
  --run-dir "$run/run" > "$run/up.log" 2>&1 &
launcher=$!
trap '"$strata" cluster down --run-dir "$run/run" >/dev/null 2>&1 || kill $launcher; rm -rf "$run"' EXIT
for _ in $(seq 300); do grep -q "ready with" "$run/up.log" && break; sleep 0.2; done
url=http://127.0.0.1:$port
body='{"prompt": "Hi", "max_tokens": 1, "temperature": 0}'
mean() { awk '{s += $1} END {printf "%.2f ms\n", 1000 * s / NR}'; }
fresh() { for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$@"; done | mean; }
reused() {  # one curl, 20 transfers: curl reuses its connection
  local args=()
  for i in $(seq 20); do
    [ "$i" -gt 1 ] && args+=(--next)
    args+=(-s -o /dev/null -w '%{time_total}\n' "$@")
  done
  curl "${args[@]}" | mean
}
echo "GET /health               fresh $(fresh "$url/health")  reused $(reused "$url/health")"
post=(-H 'Content-Type: application/json' -d "$body" "$url/v1/completions")
echo "1-token completion        fresh $(fresh "${post[@]}")  reused $(reused "${post[@]}")"
