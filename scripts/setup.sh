#!/usr/bin/env bash
# Installs the Debian 12 packages instruct.cpp needs (build, tests, oracle) and builds it in build/.
# Usage: bash scripts/setup.sh     (uses sudo when not root)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libpcre2-dev libcurl4-openssl-dev
  libcpp-httplib-dev libcli11-dev libcairo2-dev
  python3 python3-regex python3-torch python3-numpy   # test oracle only
  chromium python3-pil   # tests only: report.html rendered and checked as a person sees it
  libopenblas0-pthread   # BLAS behind Debian torch: without it the PyTorch peer runs at 6 GFLOP/s
)
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
