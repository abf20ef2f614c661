#!/usr/bin/env bash
# PoCL, the OpenCL implementation that runs tinygrad's CL backend on the CPU (the `tinygrad-cl` engine of
# scenarios/gpu-emu.toml), and the OpenCL ICD loader. Installs them with apt when run as root on Debian/Ubuntu;
# otherwise prints the command and exits 0, so the table still runs and its tinygrad-cl cells say what is missing.
# `make bench-gpu-emu` runs this; `make test` does not need it.
set -euo pipefail
packages=(pocl-opencl-icd ocl-icd-libopencl1)
have_icd() { compgen -G "/etc/OpenCL/vendors/pocl*.icd" >/dev/null; }
have_loader() { ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so'; }
if have_icd && have_loader; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
  echo "warning: PoCL is not installed; the tinygrad-cl cells will read 'unavailable'."
  echo "         install it with: sudo apt-get install -y ${packages[*]}"
fi
