#!/usr/bin/env bash
# Builds the cuBLAS bridge for hosts with CUDA 13 only: a libcublas.so.12 (the library JCublas 12 is linked against)
# whose every function jumps to the same function of the installed libcublas.so.13. The functions are the ones
# JCublas's native library imports, read from its jar. Needs gcc and unzip; Convoy finds the result at
# ~/.convoy/lib/libcublas.so.12 (the default), or where -Dconvoy.cublas.bridge / CONVOY_CUBLAS_BRIDGE say.
# Usage: ops/cuda/cublas-bridge.sh [OUT_FILE] [JCUBLAS_NATIVES_JAR]
set -euo pipefail
out=${1:-$HOME/.convoy/lib/libcublas.so.12}
jar=${2:-$(ls "$HOME"/.m2/repository/org/jcuda/jcublas-natives/*/jcublas-natives-*-linux-x86_64.jar 2>/dev/null | sort | tail -1)}
if [ -z "$jar" ] || [ ! -f "$jar" ]; then
  echo "cublas-bridge: JCublas's native jar not found; build Convoy first (it fetches org.jcuda:jcublas-natives) or pass its path" >&2
  exit 1
fi
for tool in gcc unzip nm; do
  command -v "$tool" >/dev/null || { echo "cublas-bridge: $tool is needed" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unzip -q -o "$jar" -d "$work/jar"
# every cuBLAS function the JNI libraries import, without the symbol version
find "$work/jar" -name 'libJCublas*.so' -exec nm -D --undefined-only {} \; | awk '{print $2}' | grep '@libcublas.so.12' \
  | sed 's/@.*//' | sort -u > "$work/symbols"
{
  echo '#include <dlfcn.h>'
  echo '#include <stdio.h>'
  while read -r s; do echo "__attribute__((visibility(\"hidden\"))) void* to_$s;"; done < "$work/symbols"
  echo '__attribute__((constructor)) static void bind(void) {'
  echo '  void* cublas13 = dlopen("libcublas.so.13", RTLD_NOW | RTLD_GLOBAL);'
  echo '  if (!cublas13) { fprintf(stderr, "cublas bridge: %s\n", dlerror()); return; }'
  while read -r s; do echo "  to_$s = dlsym(cublas13, \"$s\");"; done < "$work/symbols"
  echo '}'
  # each exported function is a jump through its pointer: arguments and return value pass untouched
  while read -r s; do echo "__asm__(\".globl $s\\n.type $s,@function\\n$s:\\n jmp *to_$s(%rip)\\n\");"; done < "$work/symbols"
} > "$work/bridge.c"
echo 'libcublas.so.12 { global: *; };' > "$work/version.map"
mkdir -p "$(dirname "$out")"
gcc -shared -fPIC -O2 -o "$out" "$work/bridge.c" -Wl,--version-script="$work/version.map" -Wl,-soname,libcublas.so.12 -ldl
echo "wrote $out: $(wc -l < "$work/symbols") cuBLAS functions forwarded to libcublas.so.13"
