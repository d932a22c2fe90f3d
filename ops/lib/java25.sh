# Sourced by ops/convoy and ops/test: sets JAVA_HOME to a Java 25 (or newer) JDK, or explains what is missing.
java_major() {  # prints the feature version of the JDK at $1, or nothing
  local v=""
  if [ -f "$1/release" ]; then v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"); fi
  if [ -z "$v" ] && [ -x "$1/bin/java" ]; then
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  fi
  echo "$v"
}

find_java25() {
  local candidates=() c
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for c in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /Library/Java/JavaVirtualMachines/*/Contents/Home "$HOME"/.sdkman/candidates/java/*; do
    [ -d "$c" ] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    local v; v=$(java_major "$c")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ -x "$c/bin/javac" ]; then
      export JAVA_HOME="$c"
      return 0
    fi
  done
  {
    echo "convoy: no Java 25 JDK found."
    echo "  looked at: JAVA_HOME=${JAVA_HOME:-(unset)}, /usr/lib/jvm, /usr/java, /opt/java, /opt/jdk*, ~/.sdkman"
    echo "  install a Java 25 JDK (for example Eclipse Temurin 25) and set JAVA_HOME to it."
  } >&2
  return 1
}

require_maven() {
  command -v mvn >/dev/null 2>&1 && return 0
  echo "convoy: Maven (mvn) is not on PATH; install Apache Maven 3.8 or newer to build Convoy." >&2
  return 1
}

JVM_FLAGS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow)
