#!/usr/bin/env bash
# Runs the README's two commands on a bare Debian 12 root (debootstrap --variant=minbase bookworm),
# as a newcomer on a fresh machine would: nothing the host has installed by hand can help them.
# Does not test the host build; the main job runs in its offline form (no model download here).
#
# Usage: bash scripts/fresh-check.sh        (as root; CI runs it from .ci/run)
# The base root is cached as a tarball under ${INSTRUCT_FRESH_CACHE:-~/.cache/instruct/fresh-check},
# with the downloaded .deb files, so a repeated run skips the downloads (not the installs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared="$repo/../shared"
mirror=${INSTRUCT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${INSTRUCT_FRESH_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/instruct/fresh-check}
base_tar="$cache/bookworm-minbase.tar"

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
[ -d "$shared" ] || { echo "fresh-check: $shared is missing: the tests read ../shared beside the repository" >&2; exit 1; }

t_start=$(date +%s)
declare -a stage_names=() stage_secs=()
stage() {  # stage NAME COMMAND...: runs and times one stage; the summary is printed on exit
  local name=$1 t0 rc=0
  shift
  echo "=== fresh-check: $name"
  t0=$(date +%s)
  "$@" || rc=$?
  stage_names+=("$name")
  stage_secs+=($(($(date +%s) - t0)))
  if [ $rc -ne 0 ]; then
    echo "fresh-check: stage '$name' failed (exit $rc)" >&2
    exit $rc
  fi
}
summary() {  # summary EXIT_CODE
  echo "=== fresh-check stage times (CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
  for i in "${!stage_names[@]}"; do printf '  %-34s %5d s\n' "${stage_names[$i]}" "${stage_secs[$i]}"; done
  printf '  %-34s %5d s\n' "total" $(($(date +%s) - t_start))
  # ctest's count as the plain closing line CI reads ("N passed, N failed")
  local counts
  counts=$(sed -n 's/.*tests passed, \([0-9]*\) tests\? failed out of \([0-9]*\).*/\1 \2/p' "${tests_log:-/dev/null}" 2>/dev/null | tail -1)
  if [ "$1" -eq 0 ]; then echo "fresh-check: passed"; else echo "fresh-check: FAILED (exit $1)"; fi
  if [ -n "$counts" ]; then
    set -- $counts
    echo "tests: $(($2 - $1)) passed, $1 failed"
  fi
}

root=""
cleanup() {
  [ -n "$root" ] && [ -d "$root" ] || return 0
  for m in var/cache/apt/archives dev/shm dev/pts dev sys proc; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount "$root/$m" 2>/dev/null || umount -l "$root/$m"; fi
  done
  # never delete through a mount that is still there
  if grep -q " $root/" /proc/mounts; then echo "fresh-check: $root still has mounts; left in place" >&2; else rm -rf "$root"; fi
}
trap 'rc=$?; cleanup; summary $rc; rm -f "${tests_log:-}"; exit $rc' EXIT

host_tools() {
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
}

make_base() {
  mkdir -p "$cache"
  if [ -s "$base_tar" ]; then echo "using the cached base root $base_tar"; return 0; fi
  local tmp
  tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
  debootstrap --variant=minbase bookworm "$tmp" "$mirror"
  tar -C "$tmp" -cf "$base_tar.part" .
  mv "$base_tar.part" "$base_tar"
  rm -rf "$tmp"
}

enter_root() {
  root=$(mktemp -d /tmp/instruct-fresh.XXXXXX)
  tar -C "$root" -xf "$base_tar"
  # A fresh Debian 12 machine's sources: the release, its updates and security.
  cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # The network's own certificate authorities, as this host trusts them (a TLS-inspecting egress
  # proxy here): ca-certificates, when setup.sh installs it, adds them to the system bundle, and
  # Node is pointed at that bundle below. A machine on an open network has none to copy.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  [ -d /dev/shm ] && mount -t tmpfs -o size=2g tmpfs "$root/dev/shm"
  mkdir -p "$cache/apt-archives/partial"
  mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
  # Keep downloaded .deb files in the cache (a minbase root deletes them after installing).
  rm -f "$root/etc/apt/apt.conf.d/docker-clean"
  echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > "$root/etc/apt/apt.conf.d/10keep-debs"
  # The repository as a clean clone has it (tracked and untracked files, no build output), and
  # ../shared beside it.
  mkdir -p "$root/work/main"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --no-recursion) |
    tar -C "$root/work/main" -xf -
  cp -a "$shared" "$root/work/shared"
}

in_root() {  # in_root 'SHELL COMMAND': runs in the chroot, in the repository, with a clean environment
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI="${CI:-false}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    /bin/bash -c "cd /work/main && $1"
}

# The README's commands, read from the README itself so that this checks what it says: the first
# two ```sh blocks. The main job runs offline (random init, gpt2-small shapes, 2 steps).
readme_block() {
  awk -v want="$1" '/^```sh$/ {n++; inblk=(n==want); next} /^```/ {inblk=0} inblk' README.md
}
cmd_main=$(readme_block 1)
cmd_tests=$(readme_block 2)
offline="--init random --config small --max-steps 2"
case "$cmd_main" in
  *"build/instruct run") cmd_main="$cmd_main $offline" ;;
  *) echo "fresh-check: README's first command does not end in 'build/instruct run': $cmd_main" >&2; exit 1 ;;
esac
[ -n "$cmd_tests" ] || { echo "fresh-check: README has no second command block" >&2; exit 1; }
echo "main job: $cmd_main"
echo "tests:    $cmd_tests"

stage "host tools" host_tools
stage "base root (debootstrap)" make_base
stage "copy repository in" enter_root
# A chain `a && b` is timed part by part; it runs the same as written.
while IFS= read -r part; do
  stage "README 1: ${part:0:26}" in_root "$part"
done < <(printf '%s\n' "$cmd_main" | sed 's/ && /\n/g')
tests_log=$(mktemp)
run_tests() {
  in_root "$cmd_tests" 2>&1 | tee "$tests_log"
  return "${PIPESTATUS[0]}"
}
stage "README 2: ${cmd_tests:0:26}" run_tests
# The sanitizer and fuzz builds run on the host (scripts/sanitize.sh, fuzz.sh); here only whether
# setup.sh installed their toolchain: clang finds OpenMP (libomp) and links a libFuzzer program.
toolchain() {
  in_root 'source scripts/sanitize-env.sh && printf "%s\n" "#include <cstdint>" "#include <cstddef>" \
    "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }" >/tmp/f.cpp &&
    clang++ -fsanitize=fuzzer,address,undefined /tmp/f.cpp -o /tmp/f && /tmp/f -runs=10 2>&1 | tail -1'
}
stage "clang toolchain (sanitize, fuzz)" toolchain
