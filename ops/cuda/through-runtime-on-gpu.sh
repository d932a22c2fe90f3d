#!/usr/bin/env bash
# Runs on the GPU machine (after ops/cuda/stage-serve-load.sh): convoy bench on the Llama-3-8B shape (NF4) directly and
# with jobs through the coordinator and stage actors (--through-runtime), greedy and sampled, at batch 1 and 32; the
# table goes to $OUT/through-runtime.txt.
set -u
. ops/cuda/on-gpu-env.sh
$C bench --model "$M" --devices cuda:0 --batch-sizes 1,32 --prompt-len 512 --gen-len 128 --through-runtime 2>&1 \
  | grep -v "^WARN\|INFO" | tee "${OUT:-/tmp}/through-runtime.txt" | tail -16
date
