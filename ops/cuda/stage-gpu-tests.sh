#!/usr/bin/env bash
# Stages the kernels and runtime modules for the GPU machine (../shared/device/stage.sh), leaving out what the GPU
# tests do not need or find in the source tree there, so that bundle and sources stay under the 64 MiB the device
# tool carries: the actor runtime's dependencies (Pekko, Scala, ArchUnit, ...), the built-in model, and the files
# the source tree already holds (the kernels' fatbin and the parity models, read there from kernels/src/main/resources
# and runtime/src/test/resources). Builds the cuBLAS bridge (ops/cuda/cublas-bridge.sh) into .device/bridge. Then:
# device run with carry [".device/jre.tar.xz", ".device/app.tar.xz", ".device/bridge", ".device/on-gpu.sh"] and
# `CONVOY_CUBLAS_BRIDGE=$PWD/.device/bridge/libcublas.so.12 bash .device/on-gpu.sh test --class-path kernels/src/main/resources`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
# stage.sh refuses a bundle over its limit after writing it; what follows makes it smaller
KEEP_STAGE=1 ../shared/device/stage.sh "$@" || [ -d .device/stage ]
# the GPU tests are the kernels' and the runtime's: only the runtime's test class path stays
. ops/lib/java25.sh
find_java25
(cd runtime && mvn -q -B -o org.apache.maven.plugins:maven-dependency-plugin:3.9.0:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$root/.device/runtime.classpath" >&2)
cd .device/stage
rm -rf test-classes/actors test-classes/proto test-classes/runtime/parity test-classes/runtime/default-model test-classes/runtime/tokenizers
for jar in lib/*.jar; do
  case "$(basename "$jar")" in
    convoy-runtime-*-tests.jar) rm "$jar" ;;
    convoy-runtime-*) ;;
    *) tr ':' '\n' < ../runtime.classpath | grep -q "/$(basename "$jar")$" || rm "$jar" ;;
  esac
done
rm ../runtime.classpath
zip -q -d lib/convoy-runtime-*[0-9T].jar 'ai/convoy/runtime/default-model/*'
zip -q -d lib/convoy-kernels-*[0-9T].jar 'ai/convoy/kernels/cuda/convoy.fatbin'
tar -cf - . | xz -9 -T2 > ../app.tar.xz
cd .. && rm -rf stage
cd "$root" && ops/cuda/cublas-bridge.sh .device/bridge/libcublas.so.12 >&2
cd .device
echo "staged for GPU tests: $(du -cb jre.tar.xz app.tar.xz lib on-gpu.sh | tail -1 | cut -f1) bytes"
