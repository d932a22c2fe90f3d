#!/usr/bin/env bash
# Builds ops/cuda/tune-matvec.cu for Hopper into .device/ (here, with nvcc), to be run on the GPU machine:
# .device/tune-matvec prints each decode variant's time, GB/s and error on the Llama-3-8B shapes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.device"
nvcc -O3 -arch=sm_90 -include cuda_fp16.h -o "$root/.device/tune-matvec" "$root/ops/cuda/tune-matvec.cu"
echo "built $root/.device/tune-matvec"
