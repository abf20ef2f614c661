#!/usr/bin/env bash
# System packages the project needs: clang (tinygrad's CPU backend shells out to it; tgrad's CPU
# compiler prefers it and falls back to cc) and PoCL. Installs with apt when run as root, else says how.
set -euo pipefail
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# PoCL and the OpenCL loader: the lab's tinygrad-cl engine (tinygrad's CL backend on the CPU), which the
# test suite runs rather than skips.
compgen -G "/etc/OpenCL/vendors/pocl*.icd" >/dev/null || need+=(pocl-opencl-icd)
ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so' || need+=(ocl-icd-libopencl1)
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
