#!/usr/bin/env bash
# Runs on the GPU machine (after ops/cuda/stage-serve-load.sh): a Llama-3-8B-shaped checkpoint of random weights,
# quantized to NF4, then `convoy bench` at batch 1, 8 and 64 and convoy serve under the same numbers of gRPC clients
# (ops/bench/serve-load), so that jobs through the server can be set against the bench's decode tokens/s. Tables go to
# $OUT/bench.txt and $OUT/serve.txt.
set -u
tar -C /tmp -xJf .device/jre.tar.xz && tar -C /tmp -xJf .device/load.tar.xz
export CONVOY_CUBLAS_BRIDGE=$PWD/.device/bridge/libcublas.so.12 LD_LIBRARY_PATH=/usr/local/cuda/lib64
J="/tmp/jre/bin/java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp kernels/src/main/resources:/tmp/cli/*"
C="$J ai.convoy.actors.cli.Convoy"
# kept in the (ignored) .device folder, which the machine keeps between calls while it stays warm
M=$PWD/.device/m8nf4
if [ ! -f "$M/config.json" ]; then
  date; $C synthesize --shape llama3-8b --out /tmp/m8 2>&1 | tail -1; date
  $C quantize --model /tmp/m8 --out "$M" 2>&1 | tail -1; date; rm -rf /tmp/m8
fi
$C bench --shape llama3-8b --devices cuda:0 --batch-sizes 1,8,64 --prompt-len 32 --gen-len 128 2>&1 | grep -v "^WARN\|INFO" \
  | tee "${OUT:-/tmp}/bench.txt" | tail -8
$J ai.convoy.actors.server.ServeLoadBenchmark 15 128 1,8,64 --model "$M" --devices cuda:0 2>&1 | grep -v "^WARN\|INFO\|^\[" \
  | tee "${OUT:-/tmp}/serve.txt" | tail -8
date
