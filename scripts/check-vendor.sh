#!/usr/bin/env bash
# Proves that vendor/kafka-protocol is the published kafka-protocol crate plus
# vendor/kafka-protocol.patch and nothing else, so the patch is the whole of what Strom changed.
#
#   scripts/check-vendor.sh           compare (exit 1 and show the difference if they differ)
#   scripts/check-vendor.sh --write   regenerate vendor/kafka-protocol.patch from the vendored tree
#
# The published crate comes from crates.io through cargo, which verifies its checksum. The
# vendored copy leaves out files Strom's build never reads: the crate's own tests, lockfile,
# toolchain pin and packaging metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' vendor/kafka-protocol/Cargo.toml | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/probe/src"
touch "$tmp/probe/src/lib.rs"
cat >"$tmp/probe/Cargo.toml" <<TOML
[package]
name = "probe"
version = "0.0.0"
edition = "2021"
[dependencies]
kafka-protocol = { version = "=$version", default-features = false }
TOML
cargo vendor --quiet --versioned-dirs --manifest-path "$tmp/probe/Cargo.toml" "$tmp/crates" >/dev/null
mkdir -p "$tmp/a"
cp -r "$tmp/crates/kafka-protocol-$version" "$tmp/a/kafka-protocol"
(cd "$tmp/a/kafka-protocol" &&
  rm -rf .cargo-checksum.json .cargo_vcs_info.json Cargo.toml.orig Cargo.lock rust-toolchain.toml tests)

if [ "${1:-}" = "--write" ]; then
  mkdir -p "$tmp/b"
  cp -r vendor/kafka-protocol "$tmp/b/kafka-protocol"
  rm -f "$tmp/b/kafka-protocol/STROM-PATCH.md"
  # diff exits 1 when the trees differ, which is the point; timestamps are dropped so that
  # regenerating an unchanged patch changes nothing.
  (cd "$tmp" && diff -ruN a/kafka-protocol b/kafka-protocol || true) |
    sed -E 's/^((---|\+\+\+) [^\t]+)\t.*/\1/' >vendor/kafka-protocol.patch
  echo "wrote vendor/kafka-protocol.patch"
  exit 0
fi

patch --quiet -p1 -d "$tmp/a" <vendor/kafka-protocol.patch
if diff -r --exclude=STROM-PATCH.md "$tmp/a/kafka-protocol" vendor/kafka-protocol; then
  echo "vendor/kafka-protocol = kafka-protocol $version + vendor/kafka-protocol.patch"
else
  echo "vendor/kafka-protocol differs from kafka-protocol $version + vendor/kafka-protocol.patch" >&2
  echo "(run scripts/check-vendor.sh --write after a deliberate change, and update STROM-PATCH.md)" >&2
  exit 1
fi
