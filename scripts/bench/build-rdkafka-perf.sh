#!/usr/bin/env bash
# Builds librdkafka's rdkafka_performance from the sources vendored in the rdkafka-sys crate that
# Cargo.lock pins (the same librdkafka the integration tests link), into OUT_DIR; prints its path.
# Rebuilt only when the pinned version changes. Nothing from this build is committed.
#
#   scripts/bench/build-rdkafka-perf.sh OUT_DIR
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:?usage: $0 OUT_DIR}")
mkdir -p "$out"
bin="$out/rdkafka_performance"

version=$(awk '/^name = "rdkafka-sys"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$repo/Cargo.lock")
[ -n "$version" ] || { echo "rdkafka-sys is not in Cargo.lock" >&2; exit 1; }
if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$version" ]; then
  echo "$bin"
  exit 0
fi

find_src() {
  local crate
  crate=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -type d \
    -name "rdkafka-sys-$version" 2>/dev/null | head -1)
  [ -n "$crate" ] && echo "$crate/librdkafka"
}
src=$(find_src)
if [ -z "$src" ]; then
  cargo fetch --manifest-path "$repo/Cargo.toml" >&2
  src=$(find_src)
fi
[ -n "$src" ] || { echo "librdkafka sources of rdkafka-sys $version not found" >&2; exit 1; }

echo "Building rdkafka_performance from rdkafka-sys $version (one-time, a few minutes)" >&2
build="$out/librdkafka"
log="$out/librdkafka-build.log"
rm -rf "$build"
cp -a "$src" "$build"
if ! (
  cd "$build"
  # Plain TCP only: no TLS, SASL, HTTP or external compression libraries are needed here.
  ./configure --no-download --disable-ssl --disable-gssapi --disable-curl \
    --disable-zstd --disable-zlib --disable-syslog
  make -j"$(nproc)" -C src librdkafka.a
  cc -O2 -Isrc -o "$bin" examples/rdkafka_performance.c src/librdkafka.a -lm -ldl -lpthread -lrt
) >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "building rdkafka_performance failed; full log: $log" >&2
  exit 1
fi
echo "$version" >"$bin.version"
echo "$bin"
