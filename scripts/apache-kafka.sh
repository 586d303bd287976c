#!/usr/bin/env bash
# Runs Apache Kafka's own classes (broker, storage tool, perf tools) from Maven Central jars,
# so tests and benchmarks can compare Strom with the real thing. Nothing is built from source:
# Maven only resolves the released jars listed in tests/oracle/pom.xml into ~/.m2.
#
#   scripts/apache-kafka.sh classpath          print the classpath (resolving it on first use)
#   scripts/apache-kafka.sh storage ARGS...    kafka-storage (kafka.tools.StorageTool)
#   scripts/apache-kafka.sh server CONFIG      kafka-server-start (kafka.Kafka)
#   scripts/apache-kafka.sh run CLASS ARGS...  any main class, e.g. org.apache.kafka.tools.ProducerPerformance
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pom="$here/tests/oracle/pom.xml"
# One cache per pom content: checkouts (worktrees, CI clones) pinning different Kafka versions
# never read each other's classpath, and a fresh clone of the same pom needs no Maven run.
cache="${STROM_ORACLE_CP:-${HOME}/.m2/strom-oracle-$(cksum < "$pom" | cut -d' ' -f1).classpath}"

classpath() {
  if [ ! -s "$cache" ]; then
    # Written aside and renamed: tests running in parallel never read a half-written file.
    local tmp="$cache.$$"
    mvn -q -B -f "$pom" dependency:build-classpath -Dmdep.outputFile="$tmp" >&2
    mv -f "$tmp" "$cache"
  fi
  cat "$cache"
}

java_opts=(-Xshare:auto -Dlog4j2.configurationFile="$here/tests/oracle/log4j2.properties")
cmd=${1:-}; shift || true
case "$cmd" in
  classpath) classpath ;;
  storage) exec java "${java_opts[@]}" -cp "$(classpath)" kafka.tools.StorageTool "$@" ;;
  server) exec java "${java_opts[@]}" ${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G} -cp "$(classpath)" kafka.Kafka "$@" ;;
  run) cls=$1; shift; exec java "${java_opts[@]}" -cp "$(classpath)" "$cls" "$@" ;;
  *) echo "usage: $0 classpath|storage|server|run ..." >&2; exit 2 ;;
esac
