# Sourced by the scripts that run convoy on the GPU machine from .device/jre.tar.xz and .device/load.tar.xz
# (ops/cuda/stage-serve-load.sh): unpacks them, sets $J (java with convoy's class path) and $C (the convoy CLI), and
# makes $M, a Llama-3-8B-shaped checkpoint of random weights quantized to NF4, kept in the (ignored) .device folder,
# which the machine keeps between calls while it stays warm.
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .device/jre.tar.xz
[ -d /tmp/cli ] || tar -C /tmp -xJf .device/load.tar.xz
export CONVOY_CUBLAS_BRIDGE=$PWD/.device/bridge/libcublas.so.12 LD_LIBRARY_PATH=/usr/local/cuda/lib64
J="/tmp/jre/bin/java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp kernels/src/main/resources:/tmp/cli/*"
C="$J ai.convoy.actors.cli.Convoy"
M=${M:-$PWD/.device/m8nf4}
if [ ! -f "$M/config.json" ]; then
  date; $C synthesize --shape llama3-8b --out /tmp/m8 2>&1 | tail -1; date
  $C quantize --model /tmp/m8 --out "$M" 2>&1 | tail -1; date; rm -rf /tmp/m8
fi
