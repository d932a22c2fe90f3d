#!/usr/bin/env bash
# Runs on the GPU machine (after ops/cuda/stage-serve-load.sh): a Llama-3-8B-shaped checkpoint of random weights,
# quantized to NF4, then `convoy bench` at batch 1, 8 and 64 and convoy serve under the same numbers of gRPC clients
# (ops/bench/serve-load), so that jobs through the server can be set against the bench's decode tokens/s. Tables go to
# $OUT/bench.txt and $OUT/serve.txt.
set -u
. ops/cuda/on-gpu-env.sh
$C bench --shape llama3-8b --devices cuda:0 --batch-sizes 1,8,64 --prompt-len 32 --gen-len 128 2>&1 | grep -v "^WARN\|INFO" \
  | tee "${OUT:-/tmp}/bench.txt" | tail -8
$J ai.convoy.actors.server.ServeLoadBenchmark 15 128 1,8,64 --model "$M" --devices cuda:0 2>&1 | grep -v "^WARN\|INFO\|^\[" \
  | tee "${OUT:-/tmp}/serve.txt" | tail -8
date
