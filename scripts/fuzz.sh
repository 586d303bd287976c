#!/usr/bin/env bash
# Long, coverage-guided fuzzing: cargo-fuzz (libFuzzer) on a nightly toolchain, over the targets
# in fuzz/src/lib.rs (the request decoder and the batch validator). CI runs a bounded form on
# stable inside `cargo test` (tests/fuzz.rs); this is the long form.
#
#   scripts/fuzz.sh [TARGET...]    targets: request batch (default: both, one after the other)
#   STROM_FUZZ_SECS=3600           seconds per target (default 600)
#
# Installs nightly and cargo-fuzz if missing. The corpus grows in fuzz/corpus/<target> (kept
# between runs, not committed); a crashing input lands in fuzz/artifacts/<target>/: copy it to
# fuzz/regressions/<target>/ with a name saying what it broke, fix the bug, and the stable run
# replays it from then on. Each run ends with libFuzzer's stats (executions, coverage).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${STROM_FUZZ_SECS:-600}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(request batch)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds: one valid input per API key and version, batches for every codec.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
STROM_FUZZ_SEEDS_DIR="$seeds" cargo test --quiet --test fuzz write_seeds_for_libfuzzer >/dev/null

for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "=== fuzzing $target for ${secs}s"
  # rss/malloc limits: a target's memory must stay bounded (a zstd window may take 128 MiB).
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "$seeds/$target" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=60 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -print_final_stats=1
done
