#!/usr/bin/env bash
# Portability checks for CI (called from .ci/run): the macOS build, the aarch64 Linux build with
# its storage and CRC unit tests under qemu, and the packaging files. Installs what it needs;
# if a toolchain piece cannot be installed it says so loudly and fails rather than skipping.
#
#   scripts/ci-portable.sh          everything below
#   scripts/ci-portable.sh apple    only the aarch64-apple-darwin check
#   scripts/ci-portable.sh arm64    only the aarch64 Linux cross build and qemu tests
#   scripts/ci-portable.sh package  only the packaging checks (formula syntax)
#   scripts/ci-portable.sh deps     only install the Debian tools `cargo test` uses when present
#                                   (Java and Maven for Apache Kafka, python3, xmllint, ruby;
#                                   without them those tests print SKIP); run it before that
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf '\n!!! ci-portable: %s\n\n' "$*" >&2; exit 1; }
step() { printf '\n=== ci-portable: %s\n' "$*"; }

# Debian packages: cross C/C++ compilers and libc for aarch64, qemu user-mode, and the tools the
# integration tests drive (tests/common/require.rs): a JDK and Maven for Apache Kafka, python3
# with venv for the Python clients, xmllint, ruby.
need_apt() {
  local missing=()
  command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
  command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
  command -v xmllint >/dev/null || missing+=(libxml2-utils)
  command -v ruby >/dev/null || missing+=(ruby)
  command -v java >/dev/null || missing+=(default-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v python3 >/dev/null || missing+=(python3 python3-venv)
  [ ${#missing[@]} -eq 0 ] && return
  step "installing ${missing[*]}"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } \
    || die "cannot install Debian packages: ${missing[*]}"
}

need_target() {
  rustup target list --installed | grep -qx "$1" && return
  step "rustup target add $1"
  rustup target add "$1" || die "cannot install the Rust target $1 (rustup target add $1 failed)"
}

apple() {
  need_target aarch64-apple-darwin
  step "cargo check --target aarch64-apple-darwin"
  # tracing-oslog (macOS only) compiles a C shim against <os/log.h> in its build script; there is
  # no Apple SDK here. Its build script skips the shim when DOCS_RS is set, and `cargo check`
  # never links, so this still type-checks all of Strom's macOS code, including the oslog layer.
  DOCS_RS=1 cargo check --locked --target aarch64-apple-darwin --lib --bins
  DOCS_RS=1 cargo clippy --locked --target aarch64-apple-darwin --lib --bins -- -D warnings
  step ".cargo/config.toml's target-cpu=apple-m1 is known to this rustc"
  local src out
  src=$(mktemp -d)
  echo 'pub fn f(x: u32) -> u32 { x.wrapping_mul(3) }' > "$src/m1.rs"
  out=$(rustc --crate-type=lib --target aarch64-apple-darwin -C target-cpu=apple-m1 --emit=obj \
        -o "$src/m1.o" "$src/m1.rs" 2>&1) || die "rustc failed for target-cpu=apple-m1: $out"
  rm -rf "$src"
  if grep -q "not a recognized processor" <<<"$out"; then die "rustc ignores target-cpu=apple-m1: $out"; fi
}

arm64() {
  need_apt
  need_target aarch64-unknown-linux-gnu
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  # C/C++ code of dependencies: cc-rs reads the per-target variables; rdkafka-sys (a
  # dev-dependency) runs librdkafka's own configure and make, which only read CC/CXX/AR, so those
  # name the cross tools too, and HOST_* keep anything built for the build machine native.
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
  export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
  export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
  export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
  export HOST_CC=cc HOST_CXX=c++ HOST_AR=ar
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
  step "cross-compiling the whole test suite for aarch64-unknown-linux-gnu"
  cargo test --locked --target aarch64-unknown-linux-gnu --all-targets --no-run
  step "storage and CRC-32C unit tests under qemu-aarch64 (crc-fast takes its ARMv8 CRC/PMULL path)"
  cargo test --locked --target aarch64-unknown-linux-gnu --lib -- storage:: log::crc
}

package() {
  need_apt
  step "ruby -c Formula/strom.rb"
  ruby -c Formula/strom.rb
}

case "${1:-all}" in
  apple) apple ;;
  arm64) arm64 ;;
  package) package ;;
  deps) need_apt ;;
  all) apple; arm64; package ;;
  *) die "usage: $0 [apple|arm64|package|deps|all]" ;;
esac
