#!/usr/bin/env bash
# The one list of Debian packages Strata builds and tests with, and their installation.
# Installs only what is missing, so it is quick (and works offline) once done.
#   scripts/deps.sh          everything: the build, the tests and their npm packages
#   scripts/deps.sh --build  what building the binaries needs (the Dockerfile's build stage)
set -euo pipefail

case "${1:-}" in
  --build) build_only=1 ;;
  "") build_only=0 ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

STRATA_BUILD_PACKAGES=(
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
  libssl-dev           # TLS: the control plane's certificates checked at start-up
  prometheus-cpp-dev   # /metrics on the coordinator and the workers
)
STRATA_TEST_PACKAGES=(
  prometheus           # the metrics test runs a real Prometheus server (and promtool)
  iproute2 curl jq     # the cluster tests' network namespaces; the demo's requests
  openssl              # the TLS tests make their certificates at test time
  libgtest-dev libgmock-dev  # tests
  clang libclang-rt-14-dev   # the fuzz stage: clang, libFuzzer and its ASan/UBSan runtimes
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev \
    golang-github-xeipuuv-gojsonschema-dev  # the Helm chart's offline renderer (tests/helm/render)
)
STRATA_DEB_PACKAGES=("${STRATA_BUILD_PACKAGES[@]}")
[ "$build_only" -eq 1 ] || STRATA_DEB_PACKAGES+=("${STRATA_TEST_PACKAGES[@]}")

missing=()
for p in "${STRATA_DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm for the node tests: Debian's only where none is on PATH, so a newer node
# (e.g. NodeSource's) stays.
if [ "$build_only" -eq 0 ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "strata: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

[ "$build_only" -eq 0 ] || exit 0

# The node tests' npm packages, pinned by each package-lock.json (npm runs only when they are
# missing: offline once installed): the official openai client (tests/client) and the chart
# checks' schemas and parsers (tests/helm).
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
  echo "strata: node $(node --version) is older than the node tests support (20)" >&2
for dir in tests/client tests/helm; do
  if [ ! -d "$root/$dir/node_modules" ] || [ "$root/$dir/package-lock.json" -nt "$root/$dir/node_modules" ]; then
    echo "strata: installing the npm packages of $dir" >&2
    npm ci --prefix "$root/$dir" --no-audit --no-fund >/dev/null
  fi
done
