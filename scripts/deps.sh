#!/usr/bin/env bash
# The one list of Debian packages Strata builds and tests with, and their installation.
# Installs only what is missing, so it is quick (and works offline) once done.
set -euo pipefail

STRATA_DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  nlohmann-json3-dev   # JSON: config.json, tokenizer.json, manifests, CLI output
  libpcre2-dev         # the Llama 3 pre-tokenizer regex (UTF + UCP)
  libopenblas-dev      # CPU backend GEMMs
  libspdlog-dev        # logging
  libcli11-dev         # command-line parsing
  libxxhash-dev        # pack extent checksums (xxh3)
  liburing-dev         # the SSD reader (io_uring)
  libucx-dev           # the data plane between workers (UCX ucp)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # the control plane
  libcpp-httplib-dev   # the coordinator's HTTP API
  prometheus-cpp-dev   # /metrics on the coordinator and the workers
  prometheus           # the metrics test runs a real Prometheus server (and promtool)
  iproute2 curl jq     # the cluster tests' network namespaces; the demo's requests
  libgtest-dev libgmock-dev  # tests
)

missing=()
for p in "${STRATA_DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm for the openai_client test: Debian's only where none is on PATH, so a newer
# node (e.g. NodeSource's) stays.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "strata: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The official openai client for the openai_client test, pinned by
# tests/client/package-lock.json (npm runs only when it is missing: offline once installed).
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
  echo "strata: node $(node --version) is older than the openai client supports (20)" >&2
if [ ! -d "$root/tests/client/node_modules/openai" ]; then
  echo "strata: installing the openai npm client into tests/client/node_modules" >&2
  npm ci --prefix "$root/tests/client" --no-audit --no-fund >/dev/null
fi
