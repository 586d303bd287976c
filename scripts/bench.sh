#!/usr/bin/env bash
# Reproducible benchmark: Strom (release build) against Apache Kafka 4.1.1 on this machine, with
# the same load generators and config for both, plus the machine's physical limits.
#
#   scripts/bench.sh                 full run (~20 min), rewrites BENCHMARKS.md
#   scripts/bench.sh --quick         small counts for development; report in target/bench/run-*/
#   scripts/bench.sh --only strom    one broker only (also --only kafka)
#   scripts/bench.sh --out FILE      write the report to FILE instead
#
# Exit status 1 when any scenario failed (the report lists why under "Problems").
# Environment: STROM_BIN=path uses that strom binary instead of building the release one.
# Unit tests of the harness itself: python3 -m unittest discover -s scripts/bench
# Needs Linux or macOS, a C compiler and make (rdkafka_performance is built from the librdkafka
# sources vendored in the rdkafka-sys crate), Java 17+ and Maven (scripts/apache-kafka.sh), and
# installs iperf3 with apt-get when it is missing. Everything listens on 127.0.0.1 only, and
# every process it starts is stopped by PID before it exits.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
args=()
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) args+=("$1") ;;
    --only) only=${2:?--only needs strom or kafka}; args+=("$1" "$2"); shift ;;
    --out) args+=("$1" "$(realpath -m "${2:?--out needs a file}")"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$only" in "" | strom | kafka) ;; *) echo "--only takes strom or kafka" >&2; exit 2 ;; esac

case "$(uname -s)" in
  Linux) ;;
  # macOS: memory and CPU come from ps (peak RSS sampled), dd and iperf3 as on Linux
  # (brew install iperf3 for the loopback limit).
  Darwin) ;;
  *) echo "scripts/bench.sh runs on Linux and macOS" >&2; exit 2 ;;
esac
for tool in python3 java cc make; do
  command -v "$tool" >/dev/null || { echo "scripts/bench.sh needs $tool" >&2; exit 2; }
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
bench_dir="$(realpath -m "$target_dir")/bench"
mkdir -p "$bench_dir"

if ! command -v iperf3 >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "Installing iperf3 (loopback TCP limit)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q iperf3 >/dev/null ||
      echo "iperf3 could not be installed; the loopback limit will be missing" >&2
  else
    echo "iperf3 is not installed; the loopback limit will be missing" >&2
  fi
fi

rdkafka_perf=$("$repo/scripts/bench/build-rdkafka-perf.sh" "$bench_dir")

strom_bin=${STROM_BIN:-}
if [ "$only" != kafka ] && [ -z "$strom_bin" ]; then
  echo "Building Strom (cargo build --release)" >&2
  (cd "$repo" && cargo build --release --bin strom)
  strom_bin="$(realpath -m "$target_dir")/release/strom"
fi

classpath_file="$bench_dir/kafka.classpath"
"$repo/scripts/apache-kafka.sh" classpath >"$classpath_file"

exec python3 "$repo/scripts/bench/bench.py" \
  --repo "$repo" --bench-dir "$bench_dir" --rdkafka-perf "$rdkafka_perf" \
  --classpath-file "$classpath_file" ${strom_bin:+--strom-bin "$strom_bin"} \
  ${args[@]+"${args[@]}"}
