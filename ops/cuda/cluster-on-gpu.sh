#!/usr/bin/env bash
# Runs on the GPU machine (after ops/cuda/stage-serve-load.sh): two cluster members, each a JVM of its own holding
# half the layers of the Llama-3-8B shape (NF4) on the same GPU, against one process: the greedy ids of eight jobs
# (convoy submit through the cluster, convoy run in one process) must be equal, and decode tokens/s under 1 and 8
# gRPC clients (ops/bench/serve-load) for both goes to $OUT/cluster.txt (LOAD=0 leaves that out). The jobs run one at a
# time on both sides: a GPU's products of different numbers of rows take different kernels, whose sums may differ in
# the last bits, and random weights turn such a difference into other ids.
set -u
. ops/cuda/on-gpu-env.sh
out=${OUT:-/tmp}
conf=/tmp/two-members.conf
cat > $conf <<'CONF'
convoy.cluster {
  members = [
    { name = "node-a", host = "127.0.0.1", port = 25521 }
    { name = "node-b", host = "127.0.0.1", port = 25522 }
  ]
  down-after = 5s
}
CONF
# each member sees the whole GPU: budgets keep their halves apart
half=${HALF:-"--devices cuda:0 --max-memory 0=12GiB"}
for i in 1 2 3 4 5 6 7 8; do seq -s, $((i * 7)) $((i * 7 + 31)); done > /tmp/prompts.txt
$C run --model "$M" $half --max-batch-size 1 --prompts-file /tmp/prompts.txt --max-new-tokens 64 --temperature 0 --print-ids > /tmp/one.txt 2>/tmp/one.log \
  || tail -5 /tmp/one.log
$C node --cluster-config $conf --member node-b --model "$M" $half > /tmp/node-b.log 2>&1 &
node=$!
$C serve --cluster-config $conf --member node-a --model "$M" $half --max-batch-size 1 --grpc-port 50051 --http-port 8000 > /tmp/node-a.log 2>&1 &
serve=$!
for _ in $(seq 1 240); do grep -q "over gRPC on" /tmp/node-a.log && break; sleep 0.5; done
grep -A6 "^plan:" /tmp/node-a.log | tee "$out/cluster.txt"
$C submit --server 127.0.0.1:50051 --prompts-file /tmp/prompts.txt --max-new-tokens 64 --temperature 0 --print-ids > /tmp/two.txt 2>/tmp/two.log
# the ids of each job, a line each in the jobs' order (the blocks before them print as jobs end)
ids() { grep -E '^[0-9]+(,[0-9]+)*$' "$1"; }
if [ -n "$(ids /tmp/one.txt)" ] && [ "$(ids /tmp/one.txt)" = "$(ids /tmp/two.txt)" ]; then
  echo "ids: two members equal one process ($(ids /tmp/one.txt | wc -l) jobs)"
else echo "ids differ:"; diff <(ids /tmp/one.txt) <(ids /tmp/two.txt) | cut -c1-100 | head -18; tail -n 5 /tmp/two.log /tmp/node-a.log /tmp/node-b.log; fi | tee -a "$out/cluster.txt"
kill $serve; wait $serve
[ "${LOAD:-1}" = 0 ] || {
$J ai.convoy.actors.server.ServeLoadBenchmark 15 128 1,8 --model "$M" --cluster-config $conf --member node-a $half 2>&1 \
  | grep -v "^WARN\|INFO\|^\[" | sed 's/^/two members: /' | tee -a "$out/cluster.txt" | tail -4
$J ai.convoy.actors.server.ServeLoadBenchmark 15 128 1,8 --model "$M" $half 2>&1 \
  | grep -v "^WARN\|INFO\|^\[" | sed 's/^/one process: /' | tee -a "$out/cluster.txt" | tail -4
}
kill $node; wait $node
date
