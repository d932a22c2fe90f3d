#!/usr/bin/env bash
# Stages the convoy command line (no tests) for the GPU machine: .device/cli.tar.xz beside the JRE that
# ../shared/device/stage.sh makes. The kernels' fatbin and the built-in model are left out of the jars (the source tree
# carried beside them holds the fatbin; move the built-in model out of the tree for the call), so that JRE, bundle and
# tree stay under the 64 MiB the device tool carries. There: tar -C /tmp -xJf .device/jre.tar.xz; tar -C /tmp -xJf .device/cli.tar.xz;
# CONVOY_CUBLAS_BRIDGE=$PWD/.device/bridge/libcublas.so.12 LD_LIBRARY_PATH=/usr/local/cuda/lib64 \
#   /tmp/jre/bin/java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
#   -cp "kernels/src/main/resources:/tmp/cli/*" ai.convoy.actors.cli.Convoy ...
# (carry .device/jre.tar.xz, .device/cli.tar.xz and .device/bridge: the bridge of ops/cuda/cublas-bridge.sh)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[ -f .device/jre.tar.xz ] || ../shared/device/stage.sh --no-build
. ops/lib/java25.sh
find_java25
mvn -q -B -Dstyle.color=never -DskipTests package >&2
rm -rf .device/cli && mkdir -p .device/cli
cp actors/target/convoy-actors-*.jar actors/target/lib/*.jar .device/cli/
# the gRPC client's transport: no benchmark or run on the GPU machine calls a server
rm -f .device/cli/grpc-netty-shaded-*.jar
ops/cuda/pack-cli.sh .device/cli cli
rm -f .device/app.tar.xz
ops/cuda/cublas-bridge.sh .device/bridge/libcublas.so.12 >&2
echo "staged the command line: $(du -cb .device/jre.tar.xz .device/cli.tar.xz | tail -1 | cut -f1) bytes"
