#!/usr/bin/env bash
# System packages the project needs: clang (tinygrad's CPU backend shells out to it; tgrad's CPU
# compiler prefers it and falls back to cc). Installs with apt when run as root, else says how.
set -euo pipefail
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "error: missing system packages: ${need[*]}"
  echo "       install them with: sudo apt-get install -y ${need[*]}"
  exit 1
fi
