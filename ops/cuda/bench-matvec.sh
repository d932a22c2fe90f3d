#!/usr/bin/env bash
# On the GPU machine, after ops/cuda/stage-gpu-tests.sh: the GPU matrix-vector product against copy bandwidth.
set -euo pipefail
bash .device/on-gpu.sh sh '$JAVA -cp $CP:/tmp/device-run/app/test-classes/kernels:kernels/src/main/resources ai.convoy.kernels.cuda.CudaMatVecBenchmark'
