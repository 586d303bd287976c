#!/usr/bin/env bash
# Installs every client of the compatibility matrix (tests/compat) from the package registries
# this machine reaches. Idempotent: a part already in place is left alone, so a second run takes
# seconds. A part that cannot be installed is reported and skipped (scripts/compat.sh then marks
# that client SKIPPED with the reason); the script exits 1 only if nothing could be installed.
#
#   Debian   kcat 1.7.1 (librdkafka 2.0.2), golang-github-shopify-sarama-dev 1.22, go, node/npm
#   PyPI     confluent-kafka, kafka-python, aiokafka + codecs   -> tests/compat/.venv
#   npm      kafkajs + codecs (package-lock.json)                -> tests/compat/node/node_modules
#   Go proxy franz-go + kadm, IBM/sarama, segmentio/kafka-go (go.sum)
#   Maven    org.apache.kafka:kafka-clients                      -> tests/compat/build/java.classpath
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
compat="$here/tests/compat"
build="$compat/build"
mkdir -p "$build"
ok=() failed=()
note() { echo "install-clients: $*"; }
part() { # part NAME COMMAND...: runs one install step, logging to build/install-NAME.log
  local name=$1; shift
  if "$@" >"$build/install-$name.log" 2>&1; then
    ok+=("$name")
  else
    failed+=("$name")
    note "$name failed (see $build/install-$name.log):"
    tail -5 "$build/install-$name.log" | sed 's/^/    /'
  fi
}

debian() {
  local want=() pkg
  command -v kcat >/dev/null || want+=(kcat)
  [ -d /usr/share/gocode/src/github.com/Shopify/sarama ] || want+=(golang-github-shopify-sarama-dev)
  command -v go >/dev/null || want+=(golang-go)
  command -v npm >/dev/null || want+=(nodejs npm)
  command -v gcc >/dev/null || want+=(gcc) # cgo: sarama 1.22's zstd binding
  [ ${#want[@]} -eq 0 ] && return 0
  for pkg in "${want[@]}"; do note "apt-get install $pkg"; done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}"
}

python_clients() {
  local venv="$compat/.venv" req="$compat/python/requirements.txt"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
  # pip only downloads what the venv lacks; the stamp spares even that look-up.
  if ! cmp -s "$req" "$venv/.strom-requirements"; then
    "$venv/bin/pip" install -q -r "$req" && cp "$req" "$venv/.strom-requirements"
  fi
}

node_clients() {
  local dir="$compat/node"
  command -v npm >/dev/null || { echo "npm not found"; return 1; }
  # npm ci rebuilds zstd-napi from source (~1 min): only when the lock file changed.
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.strom-package-lock.json"; then
    (cd "$dir" && npm ci --no-audit --no-fund) &&
      cp "$dir/package-lock.json" "$dir/node_modules/.strom-package-lock.json"
  fi
}

go_clients() {
  command -v go >/dev/null || { echo "go not found"; return 1; }
  (cd "$compat/go" && go mod download)
}

java_client() {
  local cp="$build/java.classpath" pom="$compat/java/pom.xml"
  command -v mvn >/dev/null || { echo "mvn not found"; return 1; }
  if [ ! -s "$cp" ] || [ "$pom" -nt "$cp" ]; then
    mvn -q -B -f "$pom" dependency:build-classpath -Dmdep.outputFile="$cp"
  fi
}

part debian debian
part python python_clients
part node node_clients
part go go_clients
part java java_client
note "installed: ${ok[*]:-nothing}${failed:+; failed: ${failed[*]}}"
[ ${#ok[@]} -gt 0 ]
