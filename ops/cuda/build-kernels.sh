#!/usr/bin/env bash
# Rebuilds the committed fatbin from kernels/src/main/cuda/convoy.cu, which includes a file per kernel family (needs
# nvcc; CUDA 13 was used), and records the hashes of the sources beside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/kernels/src/main/resources/ai/convoy/kernels/cuda/convoy.fatbin"
arch=""
for sm in 75 80 86 89 90; do arch="$arch -gencode arch=compute_$sm,code=sm_$sm"; done
nvcc -O3 -fatbin $arch -gencode arch=compute_90,code=compute_90 -include cuda_fp16.h -o "$out" "$root/kernels/src/main/cuda/convoy.cu"
# the sources it was built from, by hash: FatbinSourcesTest fails CI when they change without a rebuild
(cd "$root/kernels/src/main/cuda" && sha256sum $(ls | LC_ALL=C sort)) > "$out.sources"
echo "wrote $out ($(stat -c %s "$out") bytes) and $out.sources"
