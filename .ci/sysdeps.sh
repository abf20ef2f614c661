#!/usr/bin/env bash
# System packages the project needs: clang (tinygrad's CPU backend shells out to it; tgrad's CPU
# compiler prefers it and falls back to cc), and clang's AddressSanitizer runtime, which Debian ships
# apart from clang (TGRAD_VERIFY=2, the checked build in make test, compiles kernels with it).
# Installs with apt when run as root, else says how.
set -euo pipefail

install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: $*"
    [ -n "${updated:-}" ] || { apt-get update -qq; updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "error: missing system packages: $*"
    echo "       install them with: sudo apt-get install -y $*"
    exit 1
  fi
}

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then install "${need[@]}"; fi

if [ "$(uname -m)" = x86_64 ]; then
  asan=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null || true)
  major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
  case "$asan" in /*) ;; *) install "libclang-rt-$major-dev" ;; esac
fi
