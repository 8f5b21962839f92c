#!/usr/bin/env bash
# Installs the Debian 12 packages instruct.cpp needs (build, tests, oracle) and builds it in build/.
# Usage: bash scripts/setup.sh     (uses sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
  build-essential cmake ninja-build pkg-config git
  ca-certificates   # HTTPS: the model download (libcurl) and npm; a minimal Debian has none
  libgtest-dev libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libpcre2-dev libcurl4-openssl-dev
  libcpp-httplib-dev libcli11-dev libcairo2-dev libicu-dev
  libarchive-dev   # instruct eval: the MMLU (tar) and ARC (zip) archives
  libopenmpi-dev openmpi-bin   # data-parallel training: mpirun -np N instruct train
  python3 python3-regex python3-torch python3-numpy python3-sklearn   # test oracles only
  chromium python3-pil   # tests only: report.html rendered and checked as a person sees it
  libopenblas0-pthread   # BLAS behind Debian torch: without it the PyTorch peer runs at 6 GFLOP/s
  clang libclang-rt-dev libomp-dev   # tests only: the sanitizer build and the libFuzzer targets
  clang-format   # tests only: every C++ file follows .clang-format (scripts/format-check.sh)
  time   # tests only: /usr/bin/time's peak RSS in the scale check
)
# Tests only: node and npm fetch node-llama-cpp (llama.cpp's prebuilt binaries) to load our GGUF.
# A node already installed (say from NodeSource, which bundles npm) is kept.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
# Test tools from npm, into build/test-tools, in one install (a second `npm install --prefix` without
# a package list would remove the first one's packages). Versions whose engines allow Debian 12's
# Node 18: node-llama-cpp 3.6 (llama.cpp's prebuilt CPU binaries, no install scripts, 60 MB) loads
# our GGUF; the official ollama and openai clients talk to `instruct serve`.
npm_tools=(node-llama-cpp@3.6.0 @node-llama-cpp/linux-x64@3.6.0 ollama@0.5.18 openai@4.104.0)
for t in "${npm_tools[@]}"; do
  name=${t%@*}
  if ! grep -q "\"version\": \"${t##*@}\"" "build/test-tools/node_modules/$name/package.json" 2>/dev/null; then
    npm install --prefix build/test-tools --no-audit --no-fund --omit=optional --ignore-scripts "${npm_tools[@]}"
    break
  fi
done
