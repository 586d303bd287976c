#!/usr/bin/env bash
# Strom's whole test suite, the command README.md and .ci/run name.
#
# Installs what the tests need first (idempotent: a second run installs nothing), then runs:
#   1. cargo fmt --check, the vendored crate's patch check, cargo clippy -D warnings
#   2. cargo test: unit tests and integration tests that start the real broker binary and talk
#      to it with librdkafka (rdkafka crate) and raw protocol bytes; the Apache Kafka interop tests
#   3. tests/python/core_clients.py: confluent-kafka, kafka-python and Debian's kcat; the unit
#      tests of the compat and benchmark harnesses (Python unittest, go test)
#   4. scripts/compat.sh --broker strom: the client compatibility matrix (Java, Python, Node, Go)
#   5. scripts/ci-portable.sh: the aarch64-apple-darwin check, the aarch64 Linux build with the
#      storage/CRC unit tests under qemu, the Homebrew formula's syntax
# Every step runs even if an earlier one failed; the last line is `N passed, N failed`.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    steps 1-3 only (no compat matrix, no cross builds)
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
passed=0 failed=0 failed_steps=()
log_dir=target/test-logs
mkdir -p "$log_dir"

step() { printf '\n=== %s\n' "$*"; }
record() { # record NAME STATUS [PASSED FAILED]: adds a step's counts (default: 1 test)
  local name=$1 status=$2 p=${3:-} f=${4:-}
  if [ -z "$p" ]; then
    if [ "$status" -eq 0 ]; then p=1 f=0; else p=0 f=1; fi
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$status" -ne 0 ] || [ "$f" -gt 0 ]; then failed_steps+=("$name"); fi
}

step "installing test dependencies"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
scripts/ci-portable.sh deps || record "install (xmllint)" 1
scripts/install-clients.sh || record "install (clients)" 1

step "cargo fmt --check"
cargo fmt --all -- --check
record "cargo fmt" $?

step "vendored kafka-protocol is the published crate plus its patch (scripts/check-vendor.sh)"
scripts/check-vendor.sh
record "check-vendor" $?

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
record "cargo clippy" $?

step "cargo test"
cargo test --locked --no-fail-fast 2>&1 | tee "$log_dir/cargo-test.log"
status=${PIPESTATUS[0]}
p=$(grep -oE 'test result: [A-Za-z]+\. [0-9]+ passed' "$log_dir/cargo-test.log" | awk '{s+=$4} END {print s+0}')
f=$(grep -oE '[0-9]+ failed;' "$log_dir/cargo-test.log" | awk '{s+=$1} END {print s+0}')
[ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1 # a build failure counts as a failure
record "cargo test" "$status" "$p" "$f"

step "Python and kcat clients against the broker core"
cargo build --locked --bin strom
tests/compat/.venv/bin/python tests/python/core_clients.py target/debug/strom 2>&1 | tee "$log_dir/core-clients.log"
status=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log_dir/core-clients.log" | tail -1)
record "core clients" "$status" "$(echo "$line" | awk '{print $1+0}')" "$(echo "$line" | awk '{print $3+0}')"

step "unit tests of the test and benchmark harnesses (Python, Go)"
for dir in tests/compat scripts/bench; do
  python3 -m unittest discover -s "$dir" -p 'test_*.py' 2>&1 | tee "$log_dir/unittest.log"
  status=${PIPESTATUS[0]}
  n=$(grep -oE '^Ran [0-9]+ test' "$log_dir/unittest.log" | awk '{print $2+0}')
  if [ "$status" -eq 0 ]; then record "unittest $dir" 0 "${n:-0}" 0; else record "unittest $dir" 1; fi
done
(cd tests/compat/go && go test ./...)
record "go test tests/compat/go" $?

if [ "$quick" -eq 0 ]; then
  step "client compatibility matrix (scripts/compat.sh --broker strom)"
  STROM_BIN=target/debug/strom scripts/compat.sh --broker strom 2>&1 | tee "$log_dir/compat.log"
  status=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log_dir/compat.log" | tail -1)
  record "compat matrix" "$status" "$(echo "$line" | awk '{print $1+0}')" "$(echo "$line" | awk '{print $3+0}')"

  step "portability (scripts/ci-portable.sh)"
  scripts/ci-portable.sh 2>&1 | tee "$log_dir/portable.log"
  record "portability" "${PIPESTATUS[0]}"
fi

printf '\n=== summary\n'
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
