#!/usr/bin/env bash
# Installs the pinned code generators (from PyPI, the Go module proxy and npm
# only) into $HYDROGEN_CLIENT_TOOLS (default <repo>/target/clients-tools) and
# prints nothing on success. Idempotent: a stamp records what is installed.
#
# Bumping a generator: change the pin here, run `make clients`, commit the
# regenerated code together with the pin.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${HYDROGEN_CLIENT_TOOLS:-$ROOT/target/clients-tools}"

GRPCIO_TOOLS_VERSION=1.85.1        # bundles protoc (libprotoc 35.1)
PROTOC_GEN_GO_VERSION=v1.36.12     # google.golang.org/protobuf
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2  # google.golang.org/grpc/cmd/protoc-gen-go-grpc
# ts-proto is pinned in clients/typescript/package-lock.json.

PY="${PYTHON:-python3}"
stamp="$TOOLS/stamp"
want="grpcio-tools=$GRPCIO_TOOLS_VERSION go=$PROTOC_GEN_GO_VERSION go-grpc=$PROTOC_GEN_GO_GRPC_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -x "$TOOLS/bin/protoc-gen-go" ] && [ -x "$TOOLS/bin/protoc-gen-go-grpc" ]; then
  :
else
  mkdir -p "$TOOLS/bin"
  [ -x "$TOOLS/venv/bin/python" ] || "$PY" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
    "grpcio-tools==$GRPCIO_TOOLS_VERSION"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install \
    "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install \
    "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  echo "$want" > "$stamp"
fi

TS="$ROOT/clients/typescript"
if [ ! -x "$TS/node_modules/.bin/protoc-gen-ts_proto" ] \
   || [ "$TS/package-lock.json" -nt "$TS/node_modules/.package-lock.json" ]; then
  (cd "$TS" && npm ci --quiet --no-audit --no-fund >/dev/null)
fi
