#!/usr/bin/env bash
# Runs on the GPU machine: `convoy bench` of two builds of the command line, alternated on one GPU, so that a change's
# speed is measured against the build before it side by side. Carry .device/jre.tar.xz, .device/bridge, the build
# before as .device/cli-before.tar.xz (ops/cuda/stage-cli.sh, renamed) and the build after as .device/convoy-after.tar.xz
# (the convoy-*.jar of a later stage-cli.sh bundle: the other jars are taken from the build before). Each run's table
# goes to $OUT/<build>-<n>.txt as it ends. Arguments: the bench options of each run, one quoted string a run, e.g.
#   bash ops/cuda/bench-two-builds.sh "--shape llama3-8b --devices cuda:0 --batch-sizes 1,8,32 --prompt-len 512 --gen-len 128"
set -euo pipefail
here=$(pwd)
run=/tmp/two-builds
rm -rf "$run" && mkdir -p "$run/before" "$run/after"
tar -C "$run" -xJf .device/jre.tar.xz
tar -C "$run/before" -xJf .device/cli-before.tar.xz
cp -r "$run/before/cli" "$run/after/cli"
tar -C "$run/after" -xJf .device/convoy-after.tar.xz
export CONVOY_CUBLAS_BRIDGE="$here/.device/bridge/libcublas.so.12" LD_LIBRARY_PATH=/usr/local/cuda/lib64
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
n=0
for options in "$@"; do
  n=$((n + 1))
  for build in after before; do
    echo "== $build: bench $options"
    # shellcheck disable=SC2086
    "$run/jre/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
      -cp "kernels/src/main/resources:$run/$build/cli/*" ai.convoy.actors.cli.Convoy bench $options 2>&1 \
      | grep -v "^WARNING" | tee "${OUT:-/tmp}/$build-$n.txt"
  done
done
