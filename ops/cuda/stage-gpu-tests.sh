#!/usr/bin/env bash
# Stages the kernels and runtime modules for the GPU machine (../shared/device/stage.sh), leaving out the actor
# runtime's dependencies (Pekko, Scala, ArchUnit, ...) so that bundle and sources stay under the 64 MiB the device
# tool carries, and builds the cuBLAS bridge (ops/cuda/cublas-bridge.sh) into .device/bridge. Then: device run with
# carry [".device/jre.tar.xz", ".device/app.tar.xz", ".device/bridge", ".device/on-gpu.sh"] and
# `CONVOY_CUBLAS_BRIDGE=$PWD/.device/bridge/libcublas.so.12 bash .device/on-gpu.sh test`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
KEEP_STAGE=1 ../shared/device/stage.sh "$@"
cd .device/stage
rm -rf test-classes/actors test-classes/proto
rm -f lib/pekko-* lib/scala-* lib/archunit* lib/config-* lib/progressbar* lib/jline* lib/picocli* \
  lib/convoy-actors* lib/convoy-proto* lib/protobuf-java*
tar -cf - . | xz -9 -T2 > ../app.tar.xz
cd .. && rm -rf stage
cd "$root" && ops/cuda/cublas-bridge.sh .device/bridge/libcublas.so.12 >&2
cd .device
echo "staged for GPU tests: $(du -cb jre.tar.xz app.tar.xz lib on-gpu.sh | tail -1 | cut -f1) bytes"
