#!/usr/bin/env bash
# Stages the kernels and runtime modules for the GPU machine (../shared/device/stage.sh), leaving out the actor
# runtime's dependencies (Pekko, Scala, ArchUnit, ...) so that bundle and sources stay under the 64 MiB the device
# tool carries. Then: device run with carry [".device"] and `bash .device/on-gpu.sh test`.
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
echo "staged for GPU tests: $(du -cb jre.tar.xz app.tar.xz lib on-gpu.sh | tail -1 | cut -f1) bytes"
