#!/usr/bin/env bash
# Stages convoy serve and its load client (ops/bench/serve-load's ServeLoadBenchmark) for the GPU machine:
# .device/load.tar.xz beside the JRE that ../shared/device/stage.sh makes (ops/cuda/pack-cli.sh). Then move the built-in model, the tokenizers and the
# parity models out of the tree for the call (the device tool carries 64 MiB in all), call the device tool with carry
# [".device/jre.tar.xz", ".device/load.tar.xz", ".device/bridge"] and `bash ops/cuda/serve-load-on-gpu.sh`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
# stage.sh makes the JRE, then refuses its full bundle as too large to carry; only the JRE is wanted here
[ -f .device/jre.tar.xz ] || ../shared/device/stage.sh --no-build || [ -f .device/jre.tar.xz ]
. ops/lib/java25.sh
find_java25
mvn -q -B -Dstyle.color=never -DskipTests install >&2
(cd actors && mvn -q -B -Dstyle.color=never test-compile >&2)
rm -rf .device/load && mkdir -p .device/load/cli
cp actors/target/convoy-actors-*.jar actors/target/lib/*.jar .device/load/cli/
(cd actors/target/test-classes && "$JAVA_HOME/bin/jar" cf "$root/.device/load/cli/convoy-serve-load.jar" \
  ai/convoy/actors/server/ServeLoadBenchmark*.class ai/convoy/actors/server/ServerProcess.class)
# the test helper's assertions
for a in org/junit/jupiter/junit-jupiter-api org/junit/platform/junit-platform-commons org/opentest4j/opentest4j org/apiguardian/apiguardian-api; do
  cp "$(ls ~/.m2/repository/$a/*/*.jar | grep -v sources | tail -1)" .device/load/cli/
done
ops/cuda/pack-cli.sh .device/load/cli load
rmdir .device/load
ops/cuda/cublas-bridge.sh .device/bridge/libcublas.so.12 >&2
echo "staged convoy serve and its load client: $(du -cb .device/jre.tar.xz .device/load.tar.xz | tail -1 | cut -f1) bytes"
